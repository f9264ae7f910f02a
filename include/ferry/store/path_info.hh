#pragma once
/// What the store knows about a valid path: the NAR hash and size of its contents, its references,
/// where it came from, and who vouched for it.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "ferry/store/store_path.hh"
#include "ferry/util/hash.hh"

namespace ferry {

/// Plain value; copyable, no threading concerns.
struct ValidPathInfo {
    StorePath path;
    /// sha256 of the NAR serialisation of the contents.
    Hash nar_hash;
    uint64_t nar_size = 0;
    /// Paths this path refers to; may include `path` itself.
    StorePathSet references;
    /// The derivation that produced the path, when known.
    std::optional<StorePath> deriver;
    /// "name:base64" ed25519 signatures over the path's fingerprint.
    std::set<std::string> signatures;
    /// Content address ("fixed:r:sha256:…", "text:sha256:…") for content-addressed paths.
    std::optional<std::string> ca;
    /// Seconds since the epoch; 0 when registering means "now".
    int64_t registration_time = 0;
    /// Whether this store made the path itself (built or added) rather than receiving it.
    bool ultimate = false;

    explicit ValidPathInfo(StorePath p) : path(std::move(p)) {}
    ValidPathInfo(StorePath p, Hash hash, uint64_t size)
        : path(std::move(p)), nar_hash(hash), nar_size(size) {}

    friend bool operator==(const ValidPathInfo&, const ValidPathInfo&) = default;
};

} // namespace ferry
