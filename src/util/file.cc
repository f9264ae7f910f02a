#include "ferry/util/file.hh"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

void write_full(int fd, std::string_view data, const std::string& what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("writing " + what);
        }
        data.remove_prefix(size_t(n));
    }
}

size_t read_full(int fd, std::span<char> buf, const std::string& what) {
    size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("reading " + what);
        }
        if (n == 0) break;
        done += size_t(n);
    }
    return done;
}

std::string read_file(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("opening '" + path.string() + "'");
    std::string out;
    char buf[65536];
    for (;;) {
        size_t n = read_full(fd.get(), buf, "'" + path.string() + "'");
        out.append(buf, n);
        if (n < sizeof buf) break;
    }
    return out;
}

void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode, bool durable) {
    fs::path tmp = path;
    tmp += ".tmp-" + std::to_string(::getpid());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) throw SysError("creating '" + tmp.string() + "'");
    try {
        write_full(fd.get(), data, "'" + tmp.string() + "'");
        if (durable && ::fsync(fd.get()) != 0) throw SysError("syncing '" + tmp.string() + "'");
        fd.reset();
        if (::rename(tmp.c_str(), path.c_str()) != 0) throw SysError("renaming to '" + path.string() + "'");
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
}

namespace {

// Renames without ever replacing `to`.
int rename_noreplace(const fs::path& from, const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    // The filesystem lacks RENAME_NOREPLACE; callers hold the path's lock, so check-then-rename is safe
    // among ferry processes.
    struct stat st;
    if (::lstat(to.c_str(), &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return ::rename(from.c_str(), to.c_str());
}

} // namespace

void move_into_place(const fs::path& from, const fs::path& to) {
    struct stat st;
    bool read_only_dir = ::lstat(from.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_IWUSR);
    if (read_only_dir && ::chmod(from.c_str(), (st.st_mode & 07777) | S_IWUSR) != 0)
        throw SysError("making '" + from.string() + "' writable to move it");
    if (rename_noreplace(from, to) != 0) {
        int err = errno;
        if (read_only_dir) ::chmod(from.c_str(), st.st_mode & 07777);
        throw SysError(err, "moving '" + from.string() + "' into place at '" + to.string() + "'");
    }
    if (read_only_dir && ::chmod(to.c_str(), st.st_mode & 07777) != 0)
        throw SysError("making '" + to.string() + "' read-only");
}

void make_directories(const fs::path& dir, std::string_view what) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw SysError(ec.value(), fmt::format("creating {} '{}'", what, dir.string()));
}

void delete_path(const fs::path& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        throw SysError("getting status of '" + path.string() + "'");
    }
    if (S_ISDIR(st.st_mode)) {
        if ((st.st_mode & S_IRWXU) != S_IRWXU && ::chmod(path.c_str(), st.st_mode | S_IRWXU) != 0)
            throw SysError("making '" + path.string() + "' writable");
        std::error_code ec;
        for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
            delete_path(it->path());
        if (ec) throw SysError(ec.value(), "reading directory '" + path.string() + "'");
        if (::rmdir(path.c_str()) != 0 && errno != ENOENT) throw SysError("removing '" + path.string() + "'");
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw SysError("removing '" + path.string() + "'");
    }
}

TempDir::TempDir(const fs::path& parent, std::string_view prefix) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (int attempt = 0; attempt < 100; ++attempt) {
        fs::path p = parent / (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
                               std::to_string(rng() % 1000000000));
        if (::mkdir(p.c_str(), 0700) == 0) {
            path_ = p;
            return;
        }
        if (errno != EEXIST) throw SysError("creating temporary directory '" + p.string() + "'");
    }
    throw Error("cannot create a temporary directory under '{}'", parent.string());
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    try {
        delete_path(path_);
    } catch (...) {
        // A destructor must not throw; a leftover temporary directory is harmless.
    }
}

} // namespace ferry
