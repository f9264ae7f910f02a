#pragma once
/// Garbage collector roots, as Nix keeps them under the state directory (`<root>/nix/var/ferry`):
///
///   gcroots/…            symlinks to store paths (followed, recursively through directories), or to
///                        symlinks elsewhere that point into the store (indirect roots);
///   gcroots/auto/<hash>  indirect roots that `ferry build` makes for its `result` links (the hash is
///                        the nix32 sha1 of the link's absolute path, as Nix's addIndirectRoot);
///   temproots/<pid>      the temporary roots of a running process: store paths, each followed by a NUL,
///                        the file flock()ed by its process for as long as it lives;
///   gc.lock              the garbage collector's lock: exclusive for a collection's whole run, shared
///                        while a process appends a temporary root.
///
/// The temporary-roots protocol: a process appends a root under the shared gc lock *before* it looks at
/// the path's validity, so either the root is written before a collection starts (which then reads it),
/// or the append waits until the collection is over (and the path's validity is then what it looks).
/// A collection reads the files of live processes only: one whose lock can be taken is stale (its
/// process is gone) and deleted. The collector never takes its own process's file for stale (flock
/// locks belong to open files, not processes), so an automatic collection inside a realising process
/// keeps that process's roots (the mistake of NixOS/nix#2285).
///
/// Threading: every function may be called from any thread.

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "ferry/store/store_config.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// <state>/gcroots
std::filesystem::path gc_roots_dir(const StoreConfig& config);
/// <state>/temproots
std::filesystem::path temp_roots_dir(const StoreConfig& config);
/// <state>/gc.lock
std::filesystem::path gc_lock_file(const StoreConfig& config);

/// A held gc lock (flock on gc.lock, its own descriptor); released on destruction. Movable.
class GcLock {
public:
    /// Blocks until the lock is held exclusively (a collection). Says "waiting for the big garbage
    /// collector lock..." when it has to wait.
    static GcLock exclusive(const StoreConfig& config);
    /// Blocks until the lock is held shared (readers that need a consistent store: verify).
    static GcLock shared(const StoreConfig& config);

private:
    explicit GcLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

/// Makes `paths` temporary roots of this process in the store of `config`: appended to this process's
/// temproots file (created and locked on first use) under the shared gc lock, so it waits while a
/// collection runs. Paths already added by this process are skipped. Throws SysError.
void add_temp_roots(const StoreConfig& config, const StoreDir& dir, const StorePathSet& paths);

/// Roots found, each with what makes it one: the link's path, or "{temp:PID}" for temporary roots.
using Roots = std::map<StorePath, std::set<std::string>>;

/// The store paths the symlinks under gcroots/ point to (directly, or through a link elsewhere),
/// whether valid or not: the caller checks validity. A link in gcroots/auto/ whose target is gone is
/// deleted ("removing stale link from '…' to '…'"). `real_store_dir` is where the files are, so that
/// links to the physical copies of paths count too.
Roots find_permanent_roots(const StoreConfig& config, const StoreDir& dir);
/// The temporary roots of the running processes; stale files are deleted ("removing stale temporary
/// roots file '…'"). Call with the gc lock held exclusively, so no process is half-way through an
/// append. Lines that do not parse (a process killed during a write) are skipped.
Roots find_temp_roots(const StoreConfig& config, const StoreDir& dir);

/// Registers `link` (made absolute) as an indirect root: gcroots/auto/<nix32 sha1 of the path> → link,
/// replaced atomically. The link itself is the caller's.
void add_indirect_root(const StoreConfig& config, const std::filesystem::path& link);

} // namespace ferry
