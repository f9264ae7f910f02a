#pragma once
/// The whole store as a graph in memory: every valid path with its NAR hash and size, its references,
/// its deriver and the recorded derivation outputs, read from the database in one read transaction
/// (three table scans). The garbage collector marks on it and verify walks it, with no query per path.
///
/// Plain value; no threading concerns once built.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferry/store/store_path.hh"

namespace ferry {

struct StoreGraph {
    /// Index → path; the other vectors are indexed alike.
    std::vector<StorePath> paths;
    /// The NAR hash as the database holds it ("sha256:<nix32>").
    std::vector<std::string> nar_hash;
    std::vector<uint64_t> nar_size;
    /// The deriver's index when the deriver is valid, else -1.
    std::vector<int64_t> deriver;
    /// References of path i: refs[ref_begin[i] .. ref_begin[i + 1]) (a self-reference included).
    std::vector<uint32_t> ref_begin;
    std::vector<uint32_t> refs;
    /// References whose target is not a valid path (a damaged database): referrer index, row id.
    std::vector<std::pair<uint32_t, int64_t>> dangling;
    /// Recorded outputs of derivations that are valid: (derivation index, output index).
    std::vector<std::pair<uint32_t, uint32_t>> drv_outputs;
    /// The database's row id of each path (LocalStore::invalidate_ids()).
    std::vector<int64_t> ids;

    size_t size() const noexcept { return paths.size(); }
    /// The index of a valid path.
    std::optional<uint32_t> find(const StorePath& path) const;
    /// Adds the index entries (done by the loader).
    void index_paths();

private:
    std::unordered_map<const std::string*, uint32_t> index_; // interned base names
};

} // namespace ferry
