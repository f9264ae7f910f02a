#include "ferry/store/path_lock.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

/// Whether the locked `fd` is a file its last holder deleted (it wrote a byte into it).
bool is_stale(int fd, const fs::path& path) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw SysError("statting lock file '" + path.string() + "'");
    return st.st_size != 0;
}

/// Opens and locks `lock_file`, again while what it locked is stale; nothing when `nonblocking` and
/// the lock is held.
std::optional<UniqueFd> lock_fresh(const fs::path& lock_file, bool nonblocking) {
    for (;;) {
        UniqueFd fd = open_lock_file(lock_file);
        if (!lock_fd(fd.get(), nonblocking, lock_file)) return std::nullopt;
        if (!is_stale(fd.get(), lock_file)) return fd;
    }
}

/// Deletes the lock file `path` whose lock `fd` holds, and releases it. Unlinked first, then marked: a
/// waiter that gets the lock afterwards sees the mark and opens the path afresh.
void release_and_delete(UniqueFd& fd, const fs::path& path) noexcept {
    ::unlink(path.c_str());
    [[maybe_unused]] auto n = ::write(fd.get(), "d", 1);
    fd.reset();
}

} // namespace

PathLock PathLock::acquire(const fs::path& lock_file) {
    return PathLock(std::move(*lock_fresh(lock_file, false)), lock_file);
}

std::optional<PathLock> PathLock::try_acquire(const fs::path& lock_file) {
    auto fd = lock_fresh(lock_file, true);
    if (!fd) return std::nullopt;
    return PathLock(std::move(*fd), lock_file);
}

PathLock& PathLock::operator=(PathLock&& o) noexcept {
    if (this != &o) {
        unlock();
        fd_ = std::move(o.fd_);
        path_ = std::move(o.path_);
    }
    return *this;
}

void PathLock::unlock() noexcept {
    if (fd_) release_and_delete(fd_, path_);
}

size_t clean_lock_files(const fs::path& dir, const std::function<void(const std::string&)>& while_held) {
    size_t removed = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.path().filename().string().ends_with(".lock")) continue;
        UniqueFd fd(::open(entry.path().c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
        if (!fd) continue; // gone meanwhile
        if (!lock_fd(fd.get(), true, entry.path())) continue;
        if (is_stale(fd.get(), entry.path())) continue; // its deleter unlinks it
        if (while_held) {
            auto name = entry.path().filename().string();
            while_held(name.substr(0, name.size() - 5));
        }
        release_and_delete(fd, entry.path());
        ++removed;
    }
    if (ec) throw SysError("reading lock directory '" + dir.string() + "'");
    return removed;
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
