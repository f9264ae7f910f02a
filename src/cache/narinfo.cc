#include "ferry/cache/narinfo.hh"

#include <charconv>
#include <limits>
#include <vector>

#include "ferry/cache/signature.hh"
#include "ferry/util/error.hh"
#include "ferry/util/strings.hh"

namespace ferry {

namespace {

/// Calls `fn(key, value)` for each "Key: value" line; a line without ": " is an error.
template <typename Fn> void for_each_field(std::string_view text, Fn&& fn) {
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
        auto eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        auto line = text.substr(pos, eol - pos);
        ++line_no;
        pos = eol + 1;
        if (line.empty()) continue;
        auto sep = line.find(": ");
        if (sep == std::string_view::npos) {
            // "References:" with nothing after it may lose its trailing space in hand-made files.
            if (line.back() == ':') {
                fn(line.substr(0, line.size() - 1), std::string_view());
                continue;
            }
            throw FormatError("line {} is not 'Key: value'", line_no);
        }
        fn(line.substr(0, sep), line.substr(sep + 2));
    }
}

uint64_t parse_uint(std::string_view value, std::string_view field) {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || ptr != value.data() + value.size() || value.empty())
        throw FormatError("field '{}' is not a number: '{}'", field, value.substr(0, 40));
    return n;
}

/// nix-cache-info's Priority: a number that fits an int (Nix reads it with std::stoi).
int parse_priority(std::string_view value) {
    uint64_t n = parse_uint(value, "Priority");
    if (n > uint64_t(std::numeric_limits<int>::max()))
        throw FormatError("field 'Priority' is out of range: '{}'", value.substr(0, 40));
    return int(n);
}

void parse_field(const StoreDir& dir, NarInfo& info, std::string_view key, std::string_view value,
                 bool& have_path) {
    if (key == "StorePath") {
        info.path = dir.parse(value);
        have_path = true;
    } else if (key == "URL") {
        info.url = value;
    } else if (key == "Compression") {
        info.compression = value;
    } else if (key == "FileHash") {
        info.file_hash = Hash::parse(value);
    } else if (key == "FileSize") {
        info.file_size = parse_uint(value, key);
    } else if (key == "NarHash") {
        info.nar_hash = Hash::parse(value);
    } else if (key == "NarSize") {
        info.nar_size = parse_uint(value, key);
    } else if (key == "References") {
        for (auto ref : split_words(value))
            info.references.insert(StorePath(ref));
    } else if (key == "Deriver") {
        if (value != "unknown-deriver") info.deriver = StorePath(value);
    } else if (key == "System") {
        info.system = value;
    } else if (key == "Sig") {
        info.signatures.emplace(value);
    } else if (key == "CA") {
        info.ca = value;
    }
    // Other keys are ignored, as Nix does, so newer caches stay readable.
}

} // namespace

NarInfo NarInfo::parse(const StoreDir& dir, std::string_view text, std::string_view where) {
    // StorePath is validated when read; this placeholder never escapes.
    NarInfo info{.path = StorePath("00000000000000000000000000000000-x")};
    bool have_path = false, have_nar_hash = false, have_nar_size = false;
    try {
        for_each_field(text, [&](std::string_view key, std::string_view value) {
            try {
                parse_field(dir, info, key, value, have_path);
                have_nar_hash |= key == "NarHash";
                have_nar_size |= key == "NarSize";
            } catch (FormatError& e) {
                e.add_context(fmt::format("field '{}'", key));
                throw;
            }
        });
        if (!have_path) throw FormatError("missing field 'StorePath'");
        if (info.url.empty()) throw FormatError("missing field 'URL'");
        if (!have_nar_hash) throw FormatError("missing field 'NarHash'");
        if (!have_nar_size || info.nar_size == 0) throw FormatError("missing field 'NarSize'");
    } catch (FormatError& e) {
        e.add_context(fmt::format("malformed narinfo '{}'", where));
        throw;
    }
    return info;
}

std::string NarInfo::to_string(const StoreDir& dir) const {
    std::string out =
        "StorePath: " + dir.print(path) + "\nURL: " + url + "\nCompression: " + compression + "\n";
    if (file_hash) out += "FileHash: " + file_hash->to_nix32_prefixed() + "\n";
    if (file_size) out += "FileSize: " + std::to_string(file_size) + "\n";
    out += "NarHash: " + nar_hash.to_nix32_prefixed() + "\nNarSize: " + std::to_string(nar_size) +
           "\nReferences: ";
    bool first = true;
    for (const auto& r : references) {
        if (!first) out += ' ';
        first = false;
        out += r.to_string();
    }
    out += "\n";
    if (deriver) out += "Deriver: " + deriver->to_string() + "\n";
    if (!system.empty()) out += "System: " + system + "\n";
    for (const auto& s : signatures)
        out += "Sig: " + s + "\n";
    if (!ca.empty()) out += "CA: " + ca + "\n";
    return out;
}

std::string path_fingerprint(const StoreDir& dir, const StorePath& path, const Hash& nar_hash,
                             uint64_t nar_size, const StorePathSet& references) {
    if (nar_hash.algo != HashAlgo::sha256)
        throw Error("cannot sign '{}': its NAR hash is not sha256", dir.print(path));
    std::string out =
        "1;" + dir.print(path) + ";" + nar_hash.to_nix32_prefixed() + ";" + std::to_string(nar_size) + ";";
    bool first = true;
    for (const auto& r : references) {
        if (!first) out += ',';
        first = false;
        out += dir.print(r);
    }
    return out;
}

std::string NarInfo::fingerprint(const StoreDir& dir) const {
    return path_fingerprint(dir, path, nar_hash, nar_size, references);
}

bool NarInfo::verify(const StoreDir& dir, const TrustedKeys& keys) const {
    return nar_hash.algo == HashAlgo::sha256 && keys.verify_any(fingerprint(dir), signatures);
}

CacheInfo CacheInfo::parse(std::string_view text, std::string_view where) {
    CacheInfo info;
    try {
        for_each_field(text, [&](std::string_view key, std::string_view value) {
            if (key == "StoreDir")
                info.store_dir = value;
            else if (key == "WantMassQuery")
                info.want_mass_query = value == "1";
            else if (key == "Priority")
                info.priority = parse_priority(value);
        });
    } catch (FormatError& e) {
        e.add_context(fmt::format("malformed nix-cache-info '{}'", where));
        throw;
    }
    return info;
}

std::string CacheInfo::to_string() const {
    return "StoreDir: " + store_dir + "\nWantMassQuery: " + (want_mass_query ? "1" : "0") +
           "\nPriority: " + std::to_string(priority) + "\n";
}

} // namespace ferry
