#pragma once
/// Garbage collection with Nix's rules (`nix-store --gc`, `--delete`): the roots are the symlinks under
/// gcroots/ and the temporary roots of running processes (gc_roots.hh); everything they reach through
/// references (and, with keep-derivations, derivers; with keep-outputs, the recorded outputs of
/// derivations) is alive, everything else is garbage.
///
/// The whole graph is loaded at once (LocalStore::load_graph) and marked in memory. Deletion is atomic
/// with respect to the database: a batch of paths is made invalid in one transaction, referrers first,
/// and only then do their files go (renamed into `<store>/.ferry-trash`, then deleted). A collection
/// killed at any moment leaves no valid path without its files; the next one empties the trash and
/// deletes the files of invalid paths that nobody holds a lock on.
///
/// Threading: blocking (file system, SQLite); call from any thread. The collection holds the gc lock
/// exclusively for its whole run (other processes' temporary roots wait meanwhile).

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ferry/store/gc_roots.hh"
#include "ferry/store/local_store.hh"

namespace ferry {

struct GcOptions {
    enum class Action {
        delete_dead,     ///< delete the garbage (up to max_freed)
        return_live,     ///< list the live paths, delete nothing
        return_dead,     ///< list the garbage, delete nothing
        delete_specific, ///< delete paths_to_delete, refusing live or referenced ones
    };
    Action action = Action::delete_dead;
    StorePathSet paths_to_delete;
    /// Stop once more than this many bytes are freed (delete_dead).
    uint64_t max_freed = std::numeric_limits<uint64_t>::max();
    /// delete_dead: list what would be deleted (max_freed counted in NAR sizes), delete nothing.
    bool dry_run = false;
    bool keep_outputs = false;
    bool keep_derivations = true;
};

/// Milliseconds spent in each phase (bench/gc prints them).
struct GcTimings {
    double roots_ms = 0, load_ms = 0, mark_ms = 0, delete_ms = 0;
    /// The database's part of delete_ms.
    double invalidate_ms = 0;
};

struct GcResults {
    /// Printed store paths: deleted (in deletion order), or listed (sorted).
    std::vector<std::string> paths;
    /// Bytes freed, as Nix counts them (sizes of the deleted files); for a dry run, the NAR sizes.
    uint64_t bytes_freed = 0;
    /// Files of invalid paths deleted (not counted in `paths`).
    size_t invalid_deleted = 0;
    GcTimings timings;
};

/// Runs a collection. Throws Error for delete_specific when a path is not valid, is alive ("Cannot
/// delete path '…' since it is still alive. …") or in use by a path not being deleted ("cannot delete
/// path '…' because it is in use by '…'"); nothing is deleted then.
GcResults collect_garbage(LocalStore& store, const GcOptions& options);

/// The roots that are valid paths: permanent and temporary (`--print-roots`).
Roots find_roots(LocalStore& store);

/// Name of the trash directory inside the physical store directory.
inline constexpr const char* kTrashDirName = ".ferry-trash";

} // namespace ferry
