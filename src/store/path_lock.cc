#include "ferry/store/path_lock.hh"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

UniqueFd open_lock_file(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw SysError("opening lock file '" + path.string() + "'");
    return fd;
}

// Returns false only for EWOULDBLOCK with `nonblocking`.
bool lock_fd(int fd, bool nonblocking, const fs::path& path) {
    for (;;) {
        if (::flock(fd, LOCK_EX | (nonblocking ? LOCK_NB : 0)) == 0) return true;
        if (errno == EINTR) continue;
        if (nonblocking && errno == EWOULDBLOCK) return false;
        throw SysError("locking '" + path.string() + "'");
    }
}

} // namespace

PathLock PathLock::acquire(const fs::path& lock_file) {
    UniqueFd fd = open_lock_file(lock_file);
    lock_fd(fd.get(), false, lock_file);
    return PathLock(std::move(fd), lock_file);
}

std::optional<PathLock> PathLock::try_acquire(const fs::path& lock_file) {
    UniqueFd fd = open_lock_file(lock_file);
    if (!lock_fd(fd.get(), true, lock_file)) return std::nullopt;
    return PathLock(std::move(fd), lock_file);
}

std::vector<PathLock> acquire_all(std::vector<fs::path> lock_files) {
    std::sort(lock_files.begin(), lock_files.end());
    lock_files.erase(std::unique(lock_files.begin(), lock_files.end()), lock_files.end());
    std::vector<PathLock> locks;
    locks.reserve(lock_files.size());
    for (const auto& f : lock_files)
        locks.push_back(PathLock::acquire(f));
    return locks;
}

} // namespace ferry
