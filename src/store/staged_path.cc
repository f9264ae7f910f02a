#include "ferry/store/staged_path.hh"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <string>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

constexpr const char* kLockName = ".lock";

UniqueFd open_staging_lock(const fs::path& staging_dir) {
    fs::path p = staging_dir / kLockName;
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw SysError("opening '" + p.string() + "'");
    return fd;
}

bool flock_retry(int fd, int op) {
    for (;;) {
        if (::flock(fd, op) == 0) return true;
        if (errno == EINTR) continue;
        if ((op & LOCK_NB) && errno == EWOULDBLOCK) return false;
        throw SysError("locking a staging directory");
    }
}

std::string unique_name(std::string_view hint) {
    static std::atomic<uint64_t> counter{0};
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
           std::to_string(rng() % 1000000) + "-" + std::string(hint.substr(0, 100));
}

// Renames without ever replacing `to`.
int rename_noreplace(const fs::path& from, const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    // The filesystem lacks RENAME_NOREPLACE; the caller holds the path's lock, so check-then-rename is safe
    // among ferry processes.
    struct stat st;
    if (::lstat(to.c_str(), &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return ::rename(from.c_str(), to.c_str());
}

} // namespace

StagedPath::StagedPath(const fs::path& staging_dir, std::string_view name) {
    // A shared hold on the staging lock keeps clean_stale_staging() away between mkdir and flock.
    UniqueFd guard = open_staging_lock(staging_dir);
    flock_retry(guard.get(), LOCK_SH);
    for (int attempt = 0;; ++attempt) {
        fs::path candidate = staging_dir / unique_name(name);
        if (::mkdir(candidate.c_str(), 0700) == 0) {
            dir_ = std::move(candidate);
            break;
        }
        if (errno != EEXIST || attempt > 100)
            throw SysError("creating staging directory '" + candidate.string() + "'");
    }
    contents_ = dir_ / "out";
    lock_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lock_) {
        SysError e("opening staging directory '" + dir_.string() + "'");
        ::rmdir(dir_.c_str());
        throw e;
    }
    flock_retry(lock_.get(), LOCK_EX);
}

StagedPath::StagedPath(StagedPath&& o) noexcept
    : dir_(std::move(o.dir_)), contents_(std::move(o.contents_)), lock_(std::move(o.lock_)),
      committed_(o.committed_) {
    o.dir_.clear();
    o.committed_ = true;
}

StagedPath::~StagedPath() {
    if (dir_.empty()) return;
    try {
        // Deleted while still locked, so a cleaner never sees it half-deleted and unlocked.
        if (!committed_) delete_path(dir_);
    } catch (...) {
        // A leftover is unlocked once we close it; clean_stale_staging() removes it later.
    }
}

bool StagedPath::has_contents() const {
    struct stat st;
    return ::lstat(contents_.c_str(), &st) == 0;
}

void StagedPath::commit(const fs::path& dest) {
    if (committed_) throw Error("staged contents of '{}' were already committed", dest.string());
    // Moving a directory to another parent rewrites its "..", which needs write permission on the
    // directory itself: a canonical (0555) tree is made writable for the rename, then read-only again.
    struct stat st;
    bool read_only_dir = ::lstat(contents_.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_IWUSR);
    if (read_only_dir && ::chmod(contents_.c_str(), (st.st_mode & 07777) | S_IWUSR) != 0)
        throw SysError("making '" + contents_.string() + "' writable to move it");
    if (rename_noreplace(contents_, dest) != 0) {
        int err = errno;
        if (read_only_dir) ::chmod(contents_.c_str(), st.st_mode & 07777);
        throw SysError(err, "moving '" + contents_.string() + "' into place at '" + dest.string() + "'");
    }
    if (read_only_dir && ::chmod(dest.c_str(), st.st_mode & 07777) != 0)
        throw SysError("making '" + dest.string() + "' read-only");
    committed_ = true;
    ::rmdir(dir_.c_str());
    lock_.reset();
}

size_t clean_stale_staging(const fs::path& staging_dir) {
    UniqueFd guard = open_staging_lock(staging_dir);
    if (!flock_retry(guard.get(), LOCK_EX | LOCK_NB)) return 0;
    size_t removed = 0;
    for (const auto& entry : fs::directory_iterator(staging_dir)) {
        if (entry.path().filename() == kLockName) continue;
        UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        // Anything that is not a directory cannot be a live StagedPath.
        if (fd && !flock_retry(fd.get(), LOCK_EX | LOCK_NB)) continue;
        delete_path(entry.path());
        ++removed;
    }
    return removed;
}

} // namespace ferry
