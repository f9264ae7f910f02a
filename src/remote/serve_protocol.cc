// The serve protocol's handshake and requests, I/O-free (facts from Nix 2.8's serve-protocol.hh,
// nix-store.cc opServe and legacy-ssh-store.cc).

#include "ferry/remote/serve_protocol.hh"

#include <fmt/format.h>

#include "ferry/store/content_address.hh"

namespace ferry::serve {

namespace {

template <typename T> std::optional<Decoded<T>> done(const WireCursor& c, T value) {
    if (c.short_input()) return std::nullopt;
    return Decoded<T>{std::move(value), c.consumed()};
}

std::string drv_name(const StorePath& drv_path) {
    auto name = drv_path.name();
    if (name.ends_with(".drv")) name.remove_suffix(4);
    return std::string(name);
}

} // namespace

std::string checked_content_address(std::string ca) {
    try {
        (void)parse_content_address(ca);
    } catch (const Error& e) {
        throw ProtocolError("{}", e.message());
    }
    return ca;
}

std::string version_string(uint64_t v) {
    return fmt::format("{}.{}", major_version(v) >> 8, minor_version(v));
}

std::string_view to_string(BuildStatus status) {
    static constexpr std::string_view names[] = {
        "Built",
        "Substituted",
        "AlreadyValid",
        "PermanentFailure",
        "InputRejected",
        "OutputRejected",
        "TransientFailure",
        "CachedFailure",
        "TimedOut",
        "MiscFailure",
        "DependencyFailed",
        "LogLimitExceeded",
        "NotDeterministic",
        "ResolvesToAlreadyValid",
    };
    auto i = static_cast<uint64_t>(status);
    return i < std::size(names) ? names[i] : std::string_view("unknown status");
}

std::string encode_client_hello(unsigned version) {
    std::string out;
    WireWriter(out).u64(kMagic1).u64(version);
    return out;
}

std::optional<Decoded<unsigned>> decode_server_hello(std::string_view data) {
    WireCursor c(data);
    uint64_t magic = c.u64("magic");
    if (!c.short_input() && magic != kMagic2)
        throw ProtocolError("'nix-store --serve' protocol mismatch: magic {:#x} instead of {:#x}", magic,
                            kMagic2);
    uint64_t version = c.u64("version");
    return done(c, static_cast<unsigned>(version));
}

void check_server_version(uint64_t version) {
    if (major_version(version) != major_version(kVersion) ||
        minor_version(version) < minor_version(kMinServerVersion))
        throw ProtocolError(
            "unsupported 'nix-store --serve' protocol version {} ({:#x}); ferry needs {} to {}",
            version_string(version), version, version_string(kMinServerVersion), version_string(kVersion));
}

std::optional<size_t> decode_client_magic(std::string_view data) {
    WireCursor c(data);
    uint64_t magic = c.u64("magic");
    if (c.short_input()) return std::nullopt;
    if (magic != kMagic1) throw ProtocolError("protocol mismatch");
    return c.consumed();
}

std::string encode_server_hello(unsigned version) {
    std::string out;
    WireWriter(out).u64(kMagic2).u64(version);
    return out;
}

std::optional<Decoded<unsigned>> decode_client_version(std::string_view data) {
    WireCursor c(data);
    uint64_t version = c.u64("client version");
    return done(c, static_cast<unsigned>(version));
}

void write_build_options(WireWriter& w, unsigned version, const BuildOptions& o) {
    w.u64(o.max_silent_time).u64(o.build_timeout);
    if (minor_version(version) >= 2) w.u64(o.max_log_size);
    if (minor_version(version) >= 3) w.u64(o.nr_repeats).u64(o.enforce_determinism);
    if (minor_version(version) >= 7) w.u64(o.keep_failed);
}

BuildOptions read_build_options(WireCursor& c, unsigned version) {
    BuildOptions o;
    o.max_silent_time = c.u64("max-silent-time");
    o.build_timeout = c.u64("build-timeout");
    if (minor_version(version) >= 2) o.max_log_size = c.u64("max-log-size");
    if (minor_version(version) >= 3) {
        o.nr_repeats = c.u64("repeat");
        o.enforce_determinism = c.u64("enforce-determinism") != 0;
    }
    if (minor_version(version) >= 7) o.keep_failed = c.u64("keep-failed") != 0;
    return o;
}

void write_basic_derivation(WireWriter& w, const StoreDir& dir, const Derivation& drv) {
    w.u64(drv.outputs.size());
    for (const auto& [name, out] : drv.outputs)
        w.str(name).str(out.path).str(out.hash_algo).str(out.hash);
    w.path_set(dir, drv.input_srcs);
    w.str(drv.platform).str(drv.builder).strings(drv.args);
    w.u64(drv.env.size());
    for (const auto& [k, v] : drv.env)
        w.str(k).str(v);
}

Derivation read_basic_derivation(WireCursor& c, const StoreDir& dir, std::string name) {
    Derivation drv;
    drv.name = std::move(name);
    uint64_t n = c.u64("output count");
    if (n > 1024) throw ProtocolError("derivation has {} outputs", n);
    for (uint64_t i = 0; i < n && !c.short_input(); ++i) {
        auto out_name = c.str("output name");
        DerivationOutput out;
        out.path = c.str("output path");
        out.hash_algo = c.str("output hash algorithm");
        out.hash = c.str("output hash");
        if (c.short_input()) break;
        if (!out.path.empty() && !dir.try_parse(out.path))
            throw ProtocolError("output '{}' path '{}' is not a store path", out_name, out.path);
        drv.outputs.emplace(std::move(out_name), std::move(out));
    }
    drv.input_srcs = c.path_set(dir, "input source");
    drv.platform = c.str("platform");
    drv.builder = c.str("builder");
    drv.args = c.strings("argument");
    uint64_t env = c.u64("environment size");
    if (env > (1u << 20)) throw ProtocolError("derivation has {} environment variables", env);
    for (uint64_t i = 0; i < env && !c.short_input(); ++i) {
        auto k = c.str("environment variable name");
        auto v = c.str("environment variable value");
        drv.env.emplace(std::move(k), std::move(v));
    }
    return drv;
}

namespace {

struct RequestWriter {
    const StoreDir& dir;
    unsigned version;
    WireWriter w;

    void operator()(const QueryValidPaths& r) {
        w.u64(uint64_t(Command::query_valid_paths)).u64(r.lock).u64(r.substitute).path_set(dir, r.paths);
    }
    void operator()(const QueryPathInfos& r) {
        w.u64(uint64_t(Command::query_path_infos)).path_set(dir, r.paths);
    }
    void operator()(const DumpStorePath& r) { w.u64(uint64_t(Command::dump_store_path)).path(dir, r.path); }
    void operator()(const ImportPaths&) { w.u64(uint64_t(Command::import_paths)); }
    void operator()(const ExportPaths& r) {
        w.u64(uint64_t(Command::export_paths)).u64(0).path_set(dir, r.paths);
    }
    void operator()(const BuildPaths& r) {
        w.u64(uint64_t(Command::build_paths)).strings(r.paths);
        write_build_options(w, version, r.options);
    }
    void operator()(const QueryClosure& r) {
        w.u64(uint64_t(Command::query_closure)).u64(r.include_outputs).path_set(dir, r.paths);
    }
    void operator()(const BuildDerivation& r) {
        w.u64(uint64_t(Command::build_derivation)).path(dir, r.drv_path);
        write_basic_derivation(w, dir, r.drv);
        write_build_options(w, version, r.options);
    }
    void operator()(const AddToStoreNar& r) {
        const auto& i = r.info;
        w.u64(uint64_t(Command::add_to_store_nar)).path(dir, i.path);
        w.str(i.deriver ? dir.print(*i.deriver) : "").str(i.nar_hash.to_base16());
        w.path_set(dir, i.references);
        w.u64(uint64_t(i.registration_time)).u64(i.nar_size).u64(i.ultimate).string_set(i.signatures);
        w.str(i.ca.value_or(""));
    }
};

AddToStoreNar read_add_to_store_nar(WireCursor& c, const StoreDir& dir) {
    auto path = c.path(dir, "path");
    auto deriver = c.optional_path(dir, "deriver");
    auto hash = c.str("NAR hash");
    auto refs = c.path_set(dir, "reference");
    auto registration = c.u64("registration time");
    auto nar_size = c.u64("NAR size");
    auto ultimate = c.boolean("ultimate");
    auto sigs = c.strings("signature");
    auto ca = c.str("content address");
    AddToStoreNar r{ValidPathInfo(path)};
    if (c.short_input()) return r;
    try {
        r.info.nar_hash = Hash::parse(hash, HashAlgo::sha256);
    } catch (const Error& e) {
        throw ProtocolError("NAR hash '{}' of '{}': {}", hash, dir.print(path), e.message());
    }
    if (nar_size == 0) throw ProtocolError("narInfo is too old and missing the narSize field");
    r.info.deriver = deriver;
    r.info.references = std::move(refs);
    r.info.registration_time = int64_t(registration);
    r.info.nar_size = nar_size;
    r.info.ultimate = ultimate;
    r.info.signatures = {sigs.begin(), sigs.end()};
    if (!ca.empty()) r.info.ca = checked_content_address(ca);
    return r;
}

Request read_request(WireCursor& c, const StoreDir& dir, unsigned version, uint64_t cmd) {
    switch (Command(cmd)) {
    case Command::query_valid_paths: {
        QueryValidPaths r;
        r.lock = c.u64("lock") != 0;
        r.substitute = c.u64("substitute") != 0;
        r.paths = c.path_set(dir, "path");
        return r;
    }
    case Command::query_path_infos:
        return QueryPathInfos{c.path_set(dir, "path")};
    case Command::dump_store_path:
        return DumpStorePath{c.path(dir, "path")};
    case Command::import_paths:
        return ImportPaths{};
    case Command::export_paths: {
        c.u64("obsolete flag");
        return ExportPaths{c.path_set(dir, "path")};
    }
    case Command::build_paths: {
        BuildPaths r;
        r.paths = c.strings("path");
        r.options = read_build_options(c, version);
        return r;
    }
    case Command::query_closure: {
        QueryClosure r;
        r.include_outputs = c.u64("include outputs") != 0;
        r.paths = c.path_set(dir, "path");
        return r;
    }
    case Command::build_derivation: {
        auto drv_path = c.path(dir, "derivation path");
        auto drv = read_basic_derivation(c, dir, drv_name(drv_path));
        auto options = read_build_options(c, version);
        return BuildDerivation{drv_path, std::move(drv), options};
    }
    case Command::add_to_store_nar:
        return read_add_to_store_nar(c, dir);
    }
    throw ProtocolError("unknown serve command {}", cmd);
}

} // namespace

std::string encode_request(const StoreDir& dir, unsigned server_version, const Request& request) {
    std::string out;
    std::visit(RequestWriter{dir, server_version, WireWriter(out)}, request);
    return out;
}

std::optional<Decoded<Request>> decode_request(const StoreDir& dir, unsigned client_version,
                                               std::string_view data) {
    WireCursor c(data);
    uint64_t cmd = c.u64("command");
    if (c.short_input()) return std::nullopt;
    auto request = read_request(c, dir, client_version, cmd);
    return done(c, std::move(request));
}

std::string encode_import_trailer(const StoreDir& dir, const ValidPathInfo& info) {
    std::string out;
    WireWriter w(out);
    w.u64(kExportMagic).path(dir, info.path).path_set(dir, info.references);
    w.str(info.deriver ? dir.print(*info.deriver) : "").u64(0).u64(0);
    return out;
}

} // namespace ferry::serve
