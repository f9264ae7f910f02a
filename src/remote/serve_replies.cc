// The serve protocol's replies, I/O-free (facts from Nix 2.8's nix-store.cc opServe and
// legacy-ssh-store.cc).

#include "ferry/remote/serve_protocol.hh"

namespace ferry::serve {

namespace {
template <typename T> std::optional<Decoded<T>> done(const WireCursor& c, T value) {
    if (c.short_input()) return std::nullopt;
    return Decoded<T>{std::move(value), c.consumed()};
}
} // namespace

std::string encode_path_set(const StoreDir& dir, const StorePathSet& paths) {
    std::string out;
    WireWriter(out).path_set(dir, paths);
    return out;
}

std::optional<Decoded<StorePathSet>> decode_path_set(const StoreDir& dir, std::string_view data) {
    WireCursor c(data);
    auto paths = c.path_set(dir, "path");
    return done(c, std::move(paths));
}

std::string encode_path_infos(const StoreDir& dir, unsigned client_version,
                              const std::vector<ValidPathInfo>& infos) {
    std::string out;
    WireWriter w(out);
    for (const auto& i : infos) {
        w.path(dir, i.path).str(i.deriver ? dir.print(*i.deriver) : "").path_set(dir, i.references);
        w.u64(i.nar_size).u64(i.nar_size); // download size: uncompressed
        if (minor_version(client_version) >= 4)
            w.str(i.nar_hash.to_nix32_prefixed()).str(i.ca.value_or("")).string_set(i.signatures);
    }
    w.str("");
    return out;
}

std::optional<Decoded<std::vector<ValidPathInfo>>>
decode_path_infos(const StoreDir& dir, unsigned server_version, std::string_view data) {
    WireCursor c(data);
    std::vector<ValidPathInfo> infos;
    for (size_t n = 0; !c.short_input(); ++n) {
        if (n > (1u << 22)) throw ProtocolError("too many path infos");
        auto path = c.optional_path(dir, "path");
        if (!path) break;
        ValidPathInfo info(*path);
        info.deriver = c.optional_path(dir, "deriver");
        info.references = c.path_set(dir, "reference");
        c.u64("download size");
        info.nar_size = c.u64("NAR size");
        if (minor_version(server_version) >= 4) {
            auto hash = c.str("NAR hash");
            auto ca = c.str("content address");
            auto sigs = c.strings("signature");
            if (c.short_input()) break;
            if (hash.empty()) throw ProtocolError("no NAR hash for '{}'", dir.print(*path));
            try {
                info.nar_hash = Hash::parse(hash, HashAlgo::sha256);
            } catch (const Error& e) {
                throw ProtocolError("NAR hash '{}' of '{}': {}", hash, dir.print(*path), e.message());
            }
            if (!ca.empty()) info.ca = checked_content_address(ca);
            info.signatures = {sigs.begin(), sigs.end()};
        }
        infos.push_back(std::move(info));
    }
    return done(c, std::move(infos));
}

std::string encode_u64(uint64_t value) {
    std::string out;
    WireWriter(out).u64(value);
    return out;
}

std::optional<Decoded<uint64_t>> decode_u64(std::string_view data, std::string_view what) {
    WireCursor c(data);
    auto v = c.u64(what);
    return done(c, v);
}

std::string encode_build_paths_result(BuildStatus status, std::string_view message) {
    std::string out;
    WireWriter w(out);
    w.u64(uint64_t(status));
    if (status != BuildStatus::built) w.str(message);
    return out;
}

std::string encode_build_result(unsigned client_version, const BuildResult& r) {
    std::string out;
    WireWriter w(out);
    w.u64(uint64_t(r.status)).str(r.error_msg);
    if (minor_version(client_version) >= 3)
        w.u64(r.times_built).u64(r.is_non_deterministic).u64(r.start_time).u64(r.stop_time);
    if (minor_version(client_version) >= 6) {
        w.u64(r.built_outputs.size());
        for (const auto& [id, realisation] : r.built_outputs)
            w.str(id).str(realisation);
    }
    return out;
}

std::optional<Decoded<BuildResult>> decode_build_result(unsigned server_version, std::string_view data) {
    WireCursor c(data);
    BuildResult r;
    uint64_t status = c.u64("build status");
    if (!c.short_input() && status > uint64_t(BuildStatus::resolves_to_already_valid) + 1)
        throw ProtocolError("unknown build status {}", status);
    r.status = BuildStatus(status);
    r.error_msg = c.str("error message");
    if (minor_version(server_version) >= 3) {
        r.times_built = c.u64("times built");
        r.is_non_deterministic = c.boolean("is non-deterministic");
        r.start_time = c.u64("start time");
        r.stop_time = c.u64("stop time");
    }
    if (minor_version(server_version) >= 6) {
        uint64_t n = c.u64("built output count");
        if (n > 1024) throw ProtocolError("{} built outputs", n);
        for (uint64_t i = 0; i < n && !c.short_input(); ++i) {
            auto id = c.str("built output id");
            auto realisation = c.str("realisation");
            r.built_outputs.emplace(std::move(id), std::move(realisation));
        }
    }
    return done(c, std::move(r));
}

} // namespace ferry::serve
