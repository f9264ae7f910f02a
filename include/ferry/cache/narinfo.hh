#pragma once
/// `.narinfo` files of a binary cache: parse and print as Nix 2.8 does, and the fingerprint its
/// signatures cover. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "ferry/store/store_path.hh"
#include "ferry/util/hash.hh"

namespace ferry {

/// The largest narinfo (or nix-cache-info) a binary cache may answer with: a bigger or endless answer is
/// an error once this much has arrived. Nix has no limit; a narinfo of 100,000 references is ~6 MiB.
constexpr std::uint64_t kMaxNarinfoSize = 16 << 20;

class TrustedKeys;

struct NarInfo {
    StorePath path;
    std::string url;                   ///< relative to the cache, e.g. "nar/<hash>.nar.xz"
    std::string compression = "bzip2"; ///< Nix's default when the field is absent
    std::optional<Hash> file_hash;
    uint64_t file_size = 0;
    Hash nar_hash;
    uint64_t nar_size = 0;
    StorePathSet references;
    std::optional<StorePath> deriver;
    std::string system;
    std::set<std::string> signatures;
    std::string ca;

    /// Parses `text` (for `where`, e.g. the URL, in errors). Requires StorePath, URL, NarHash, NarSize.
    /// Throws FormatError naming `where` and the reason.
    static NarInfo parse(const StoreDir& dir, std::string_view text, std::string_view where);
    /// The text, field order and format as Nix writes it.
    std::string to_string(const StoreDir& dir) const;

    /// "1;<path>;<sha256 nar hash in nix32>;<nar size>;<comma-separated reference paths>".
    std::string fingerprint(const StoreDir& dir) const;
    /// Whether one of the signatures is by a trusted key over the fingerprint.
    bool verify(const StoreDir& dir, const TrustedKeys& keys) const;
};

/// The fingerprint of a path's info, shared by narinfo files and local path info.
std::string path_fingerprint(const StoreDir& dir, const StorePath& path, const Hash& nar_hash,
                             uint64_t nar_size, const StorePathSet& references);

/// `nix-cache-info`: StoreDir, WantMassQuery, Priority.
struct CacheInfo {
    std::string store_dir = "/nix/store";
    bool want_mass_query = false;
    int priority = 50; ///< Nix's default for binary caches

    static CacheInfo parse(std::string_view text, std::string_view where);
    std::string to_string() const;
};

} // namespace ferry
