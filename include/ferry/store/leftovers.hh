#pragma once
/// What interrupted processes leave behind in a store (`ferry store verify` lists it): staging entries,
/// build directories and lock files of processes that no longer run, which every ferry's start-up
/// clean-up deletes; and files that no start-up clean-up touches: files in the store directory that are
/// not a valid path (a garbage collection killed between making paths invalid and deleting their
/// files) and the trash of an interrupted collection, which `store gc` and `store verify --repair`
/// delete. None of them breaks the store's promise (no valid path is missing or partial); they take
/// space.
///
/// Threading: blocking (file system, flock, the database); call from any thread.

#include <filesystem>
#include <string>
#include <vector>

#include "ferry/store/store_config.hh"

namespace ferry {

class LocalStore;
struct StoreGraph;

struct Leftover {
    std::filesystem::path file;
    /// One line naming the file and whose it was.
    std::string message;
    /// Whether the start-up clean-up of every ferry process deletes it.
    bool cleaned_at_start_up = false;
};

/// Staging entries, build directories and per-path lock files of processes that no longer run, found
/// without changing anything. Call before opening the store (LocalStore's constructor deletes them).
std::vector<Leftover> find_stale_files(const StoreConfig& config);

/// The entries of the store directory that are neither valid paths (in `g`, loaded under the gc lock)
/// nor being made valid (their path lock file exists), and the trash of an interrupted collection. Call
/// with the gc lock held (shared is enough: no collection deletes meanwhile).
std::vector<Leftover> find_invalid_entries(LocalStore& store, const StoreGraph& g);

/// Deletes `leftover` (one of find_invalid_entries()) when it still is one: an invalid path's files
/// under its path lock, the trash under the gc lock. Throws SysError.
void remove_leftover(LocalStore& store, const Leftover& leftover);

} // namespace ferry
