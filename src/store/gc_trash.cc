#include "gc_trash.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

UniqueFd open_dir(const fs::path& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw SysError("opening '" + dir.string() + "'");
    return fd;
}

/// What deleting a file frees as Nix counts it: its size when it has one or two links (two: a file of an
/// optimised store).
uint64_t freed_by(const struct stat& st) {
    return st.st_nlink <= 2 ? uint64_t(st.st_size) : 0;
}

/// Deletes the tree at `name` under `parent_fd` (`shown`: its path, for errors); returns what it frees.
/// One fstatat per entry, descriptors relative to the parent.
uint64_t delete_tree(int parent_fd, const std::string& name, const fs::path& shown) {
    struct stat st;
    if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return 0;
        throw SysError("getting status of '" + shown.string() + "'");
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(parent_fd, name.c_str(), 0) != 0 && errno != ENOENT)
            throw SysError("removing '" + shown.string() + "'");
        return freed_by(st);
    }
    if ((st.st_mode & S_IRWXU) != S_IRWXU &&
        ::fchmodat(parent_fd, name.c_str(), st.st_mode | S_IRWXU, 0) != 0)
        throw SysError("making '" + shown.string() + "' writable");
    int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw SysError("opening '" + shown.string() + "'");
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        throw SysError("opening '" + shown.string() + "'");
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(dir))
        if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
            names.emplace_back(e->d_name);
    uint64_t total = 0;
    try {
        for (const auto& n : names)
            total += delete_tree(::dirfd(dir), n, shown / n);
    } catch (...) {
        ::closedir(dir);
        throw;
    }
    ::closedir(dir);
    if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        throw SysError("removing '" + shown.string() + "'");
    return total;
}

} // namespace

GcTrash::GcTrash(const fs::path& store_dir, const fs::path& trash, unsigned threads)
    : store_dir_(store_dir), trash_(trash), store_fd_(open_dir(store_dir)), trash_fd_(open_dir(trash)),
      threads_(threads ? threads : std::clamp(std::thread::hardware_concurrency(), 1u, 4u)) {}

void GcTrash::take(const std::string& name) {
    struct stat st;
    if (::fstatat(store_fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        throw SysError("getting status of '" + (store_dir_ / name).string() + "'");
    }
    if (!S_ISDIR(st.st_mode)) {
        // A file goes in one step: there is no half-deleted state to hide.
        if (::unlinkat(store_fd_.get(), name.c_str(), 0) != 0) {
            if (errno == ENOENT) return;
            throw SysError("removing '" + (store_dir_ / name).string() + "'");
        }
        freed_ += freed_by(st);
        return;
    }
    fs::path from = store_dir_ / name, to = trash_ / name;
    if (::renameat(store_fd_.get(), name.c_str(), trash_fd_.get(), name.c_str()) != 0) {
        if (errno == ENOENT) return;
        if (errno != EACCES && errno != EPERM)
            throw SysError("moving '" + from.string() + "' to the trash '" + to.string() + "'");
        move_into_place(from, to); // a read-only directory changing parents
    }
    trees_.push_back(name);
}

uint64_t GcTrash::drain() {
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> freed{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&] {
        for (size_t k; (k = next.fetch_add(1)) < trees_.size();) {
            try {
                freed += delete_tree(trash_fd_.get(), trees_[k], trash_ / trees_[k]);
            } catch (...) {
                std::lock_guard lock(error_mutex);
                if (!error) error = std::current_exception();
            }
        }
    };
    {
        std::vector<std::jthread> pool;
        for (unsigned t = 1; t < std::min<size_t>(threads_, trees_.size()); ++t)
            pool.emplace_back(work);
        work();
    }
    trees_.clear();
    uint64_t total = freed_ + freed.load();
    freed_ = 0;
    if (error) std::rethrow_exception(error);
    return total;
}

} // namespace ferry
