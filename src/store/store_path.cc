#include "ferry/store/store_path.hh"

#include <mutex>
#include <unordered_set>

#include "ferry/util/encoding.hh"
#include "ferry/util/error.hh"

namespace ferry {

namespace {

std::string shown(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 300))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

bool is_name_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '-' || c == '.' || c == '_' || c == '?' || c == '=';
}

} // namespace

void check_store_path_name(std::string_view name) {
    if (name.empty()) throw FormatError("store path name is empty");
    if (name.size() > StorePath::kMaxNameLength)
        throw FormatError("store path name '{}' is longer than {} characters", shown(name),
                          StorePath::kMaxNameLength);
    for (char c : name)
        if (!is_name_char(c))
            throw FormatError("store path name '{}' contains the illegal character '{}'", shown(name),
                              shown({&c, 1}));
}

namespace {

/// Every base name ever made valid, kept for the life of the process (node-based, so the strings
/// never move).
const std::string* intern(std::string_view base_name) {
    static std::mutex mutex;
    static std::unordered_set<std::string> table;
    std::lock_guard lock(mutex);
    return &*table.emplace(base_name).first;
}

} // namespace

StorePath::StorePath(std::string_view base_name) {
    if (base_name.size() < kHashPartLength + 2 || base_name[kHashPartLength] != '-')
        throw FormatError("'{}' is not a store path base name (<32-char hash>-<name>)", shown(base_name));
    for (char c : base_name.substr(0, kHashPartLength))
        if (!is_nix32_char(c))
            throw FormatError("store path '{}' has an invalid hash part", shown(base_name));
    try {
        check_store_path_name(base_name.substr(kHashPartLength + 1));
    } catch (FormatError& e) {
        e.add_context(fmt::format("store path '{}'", shown(base_name)));
        throw;
    }
    base_ = intern(base_name);
}

StorePath::StorePath(std::span<const uint8_t> digest20, std::string_view name)
    : StorePath(nix32_encode(digest20) + "-" + std::string(name)) {}

bool StorePath::is_derivation() const {
    return name().ends_with(".drv");
}

StoreDir::StoreDir(std::string dir) : dir_(std::move(dir)) {
    if (dir_.empty() || dir_[0] != '/' || (dir_.size() > 1 && dir_.back() == '/'))
        throw FormatError("store directory '{}' must be an absolute path without a trailing slash", dir_);
}

std::optional<StorePath> StoreDir::try_parse(std::string_view full) const {
    try {
        return parse(full);
    } catch (const FormatError&) {
        return std::nullopt;
    }
}

StorePath StoreDir::parse(std::string_view full) const {
    if (full.size() <= dir_.size() + 1 || !full.starts_with(dir_) || full[dir_.size()] != '/')
        throw FormatError("path '{}' is not in the Nix store '{}'", shown(full), dir_);
    auto base = full.substr(dir_.size() + 1);
    if (base.find('/') != std::string_view::npos)
        throw FormatError("path '{}' is not a store path but a path inside one", shown(full));
    return StorePath(base);
}

bool StoreDir::is_in_store(std::string_view path) const {
    return path.size() > dir_.size() + 1 && path.starts_with(dir_) && path[dir_.size()] == '/';
}

StorePath StoreDir::to_store_path(std::string_view path) const {
    if (!is_in_store(path)) throw FormatError("path '{}' is not in the Nix store '{}'", shown(path), dir_);
    auto rest = path.substr(dir_.size() + 1);
    return StorePath(rest.substr(0, rest.find('/')));
}

StorePath StoreDir::make_store_path(std::string_view type, const Hash& hash, std::string_view name) const {
    std::string fingerprint =
        fmt::format("{}:{}:{}:{}:{}", type, to_string(hash.algo), hash.to_base16(), dir_, name);
    auto digest = compress_hash(hash_string(HashAlgo::sha256, fingerprint), 20);
    return StorePath(digest, name);
}

std::string StoreDir::make_type(std::string_view kind, const StorePathSet& references,
                                bool self_reference) const {
    std::string type(kind);
    for (const auto& ref : references) {
        type += ':';
        type += print(ref);
    }
    if (self_reference) type += ":self";
    return type;
}

std::string output_path_name(std::string_view drv_name, std::string_view output_name) {
    std::string name(drv_name);
    if (output_name != "out") {
        name += '-';
        name += output_name;
    }
    return name;
}

StorePath StoreDir::make_output_path(std::string_view output_name, const Hash& hash,
                                     std::string_view drv_name) const {
    return make_store_path(std::string("output:") + std::string(output_name), hash,
                           output_path_name(drv_name, output_name));
}

StorePath StoreDir::make_fixed_output_path(FileIngestionMethod method, const Hash& hash,
                                           std::string_view name, const StorePathSet& references,
                                           bool self_reference) const {
    if (method == FileIngestionMethod::recursive && hash.algo == HashAlgo::sha256)
        return make_store_path(make_type("source", references, self_reference), hash, name);
    if (!references.empty() || self_reference)
        throw FormatError("fixed-output path '{}' of this kind cannot have references", shown(name));
    auto inner = hash_string(
        HashAlgo::sha256, fmt::format("fixed:out:{}{}:", method == FileIngestionMethod::recursive ? "r:" : "",
                                      hash.to_string(HashFormat::base16, true)));
    return make_store_path("output:out", inner, name);
}

StorePath StoreDir::make_text_path(std::string_view name, std::string_view contents,
                                   const StorePathSet& references) const {
    return make_store_path(make_type("text", references, false), hash_string(HashAlgo::sha256, contents),
                           name);
}

} // namespace ferry
