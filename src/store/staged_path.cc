#include "ferry/store/staged_path.hh"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

bool flock_retry(int fd, int op) {
    for (;;) {
        if (::flock(fd, op) == 0) return true;
        if (errno == EINTR) continue;
        if ((op & LOCK_NB) && errno == EWOULDBLOCK) return false;
        throw SysError("locking a staging lock");
    }
}

/// This process's claim on its staging entries: "<staging>/<owner>.lock", held (flock) for the life of
/// the process and removed at exit. Every entry the process stages is named "<owner>-…", so a cleaner
/// tells the entries of live processes from abandoned ones with one lock per process, not one open
/// descriptor per staged path (a large closure stages tens of thousands).
class OwnerLock {
public:
    /// The owner prefix for `staging_dir`, its lock taken on first use. Thread-safe.
    static std::string owner_for(const fs::path& staging_dir) {
        static std::mutex mutex;
        static std::map<fs::path, OwnerLock> locks;
        std::lock_guard lock(mutex);
        auto it = locks.find(staging_dir);
        if (it == locks.end()) it = locks.emplace(staging_dir, OwnerLock(staging_dir)).first;
        return it->second.owner_;
    }

    OwnerLock(OwnerLock&&) = default;
    ~OwnerLock() {
        // Unlinked while still held, so no cleaner mistakes it for a dead process's.
        if (fd_) ::unlink(path_.c_str());
    }

private:
    explicit OwnerLock(const fs::path& staging_dir) {
        std::mt19937_64 rng{std::random_device{}()};
        for (int attempt = 0;; ++attempt) {
            owner_ = std::to_string(::getpid()) + "-" + std::to_string(rng() % 1000000000);
            path_ = staging_dir / (owner_ + ".lock");
            fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
            if (fd_) break;
            if (errno != EEXIST || attempt > 100)
                throw SysError("creating staging lock '" + path_.string() + "'");
        }
        flock_retry(fd_.get(), LOCK_EX);
    }

    std::string owner_;
    fs::path path_;
    UniqueFd fd_;
};

std::string unique_name(const fs::path& staging_dir, std::string_view hint) {
    static std::atomic<uint64_t> counter{0};
    return OwnerLock::owner_for(staging_dir) + "-" + std::to_string(counter++) + "-" +
           std::string(hint.substr(0, 100));
}

/// "<pid>-<random>" of an entry "<pid>-<random>-<n>-<name>" or a lock "<pid>-<random>.lock".
std::string owner_of(const std::string& name) {
    auto first = name.find('-');
    if (first == std::string::npos) return "";
    auto second = name.find_first_of("-.", first + 1);
    return name.substr(0, second);
}

/// Whether the process owning entries with prefix `owner` is gone: its lock file is missing, or can
/// be locked.
bool owner_is_dead(const fs::path& staging_dir, const std::string& owner) {
    fs::path lock = staging_dir / (owner + ".lock");
    UniqueFd fd(::open(lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno == ENOENT;
    return flock_retry(fd.get(), LOCK_EX | LOCK_NB);
}

} // namespace

std::string staging_entry_name(const fs::path& staging_dir, std::string_view hint) {
    return unique_name(staging_dir, hint);
}

/// Deletes a dead process's staging entry: a staged directory, or a scratch directory's claim (a
/// symlink to a directory outside the store; the directory goes first).
static void delete_stale_entry(const fs::path& entry) {
    struct stat st;
    if (::lstat(entry.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        fs::path target = fs::read_symlink(entry);
        if (target.is_absolute() && target.has_filename()) delete_path(target);
        if (::unlink(entry.c_str()) != 0 && errno != ENOENT)
            throw SysError("removing '" + entry.string() + "'");
        return;
    }
    delete_path(entry);
}

bool is_staging_lock(std::string_view name) {
    return name.ends_with(".lock");
}

StagedPath::StagedPath(const fs::path& staging_dir, std::string_view name) {
    for (int attempt = 0;; ++attempt) {
        fs::path candidate = staging_dir / unique_name(staging_dir, name);
        if (::mkdir(candidate.c_str(), 0700) == 0) {
            dir_ = std::move(candidate);
            break;
        }
        if (errno != EEXIST || attempt > 100)
            throw SysError("creating staging directory '" + candidate.string() + "'");
    }
    contents_ = dir_ / "out";
}

StagedPath::StagedPath(StagedPath&& o) noexcept
    : dir_(std::move(o.dir_)), contents_(std::move(o.contents_)), committed_(o.committed_) {
    o.dir_.clear();
    o.committed_ = true;
}

StagedPath::~StagedPath() {
    if (dir_.empty()) return;
    try {
        if (!committed_) delete_path(dir_);
    } catch (...) {
        // A leftover of this process is removed by clean_stale_staging() once the process is gone.
    }
}

bool StagedPath::has_contents() const {
    struct stat st;
    return ::lstat(contents_.c_str(), &st) == 0;
}

void StagedPath::commit(const fs::path& dest) {
    if (committed_) throw Error("staged contents of '{}' were already committed", dest.string());
    move_into_place(contents_, dest);
    committed_ = true;
    ::rmdir(dir_.c_str());
}

namespace {

/// Calls `visit(entry, name, owner)` for each entry of the staging directory whose owner no longer runs
/// (or that names no owner); each owner is looked at once.
template <typename Visit> void for_each_stale_entry(const fs::path& staging_dir, Visit visit) {
    std::map<std::string, bool> dead; // owner -> gone
    for (const auto& entry : fs::directory_iterator(staging_dir)) {
        auto name = entry.path().filename().string();
        auto owner = owner_of(name);
        auto [it, fresh] = dead.emplace(owner, false);
        if (fresh) it->second = owner.empty() || owner_is_dead(staging_dir, owner);
        if (it->second) visit(entry, name, owner);
    }
}

} // namespace

std::vector<StaleStagingEntry> find_stale_staging(const fs::path& staging_dir) {
    std::vector<StaleStagingEntry> found;
    for_each_stale_entry(staging_dir,
                         [&](const fs::directory_entry& entry, const std::string&, const std::string& owner) {
                             StaleStagingEntry stale{entry.path(), {}, owner.substr(0, owner.find('-'))};
                             struct stat st;
                             if (::lstat(entry.path().c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
                                 std::error_code ec;
                                 fs::path target = fs::read_symlink(entry.path(), ec);
                                 if (!ec && target.is_absolute() && fs::exists(fs::symlink_status(target)))
                                     stale.scratch = target;
                             }
                             found.push_back(std::move(stale));
                         });
    return found;
}

size_t clean_stale_staging(const fs::path& staging_dir) {
    size_t removed = 0;
    std::vector<fs::path> locks;
    for_each_stale_entry(
        staging_dir, [&](const fs::directory_entry& entry, const std::string& name, const std::string&) {
            if (is_staging_lock(name)) {
                locks.push_back(entry.path()); // after its entries, so a crash here leaves them claimable
                return;
            }
            delete_stale_entry(entry.path());
            ++removed;
        });
    for (const auto& lock : locks)
        ::unlink(lock.c_str());
    return removed;
}

} // namespace ferry
