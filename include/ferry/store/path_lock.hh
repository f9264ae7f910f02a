#pragma once
/// Exclusive advisory locks on lock files (flock), one per store path, so that two processes or two
/// threads never build, unpack or register the same path at once.
///
/// Each PathLock opens its own descriptor, so locks exclude each other between threads of one process
/// as well as between processes. Locking a path twice from one thread deadlocks (blocking) or fails
/// (try). Lock files are left in place when unlocked: deleting them would let a waiter lock an unlinked
/// file while a newcomer locks a fresh one.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ferry/util/file.hh"

namespace ferry {

/// Owns one held lock; released on destruction (or unlock()). Movable, not copyable; may be released
/// from another thread than the one that took it.
class PathLock {
public:
    /// Blocks until `lock_file` (created 0600 when missing) is locked exclusively. Throws SysError.
    static PathLock acquire(const std::filesystem::path& lock_file);
    /// Locks `lock_file` when nobody holds it; std::nullopt otherwise. Throws SysError.
    static std::optional<PathLock> try_acquire(const std::filesystem::path& lock_file);

    PathLock(PathLock&&) noexcept = default;
    PathLock& operator=(PathLock&& o) noexcept;
    ~PathLock() { unlock(); }

    /// Releases the lock now, deleting the lock file; further calls do nothing.
    void unlock() noexcept;
    bool locked() const noexcept { return bool(fd_); }
    const std::filesystem::path& lock_file() const noexcept { return path_; }

private:
    PathLock(UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}

    UniqueFd fd_;
    std::filesystem::path path_;
};

/// Blocks until every lock file of `lock_files` is held, taking them in sorted order so that two callers
/// with overlapping sets cannot deadlock.
std::vector<PathLock> acquire_all(std::vector<std::filesystem::path> lock_files);

/// Deletes the lock files under `dir` that nobody holds (left by killed processes), with the same
/// protocol; safe while other processes lock and release. `while_held`, when set, is called with the
/// name of each (without ".lock") while its lock is held, before the file goes: what a process killed
/// while holding the lock left half done can be undone there. Returns how many went. Throws SysError.
size_t clean_lock_files(const std::filesystem::path& dir,
                        const std::function<void(const std::string&)>& while_held = {});

} // namespace ferry
