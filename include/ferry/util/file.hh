#pragma once
/// File descriptors, whole-file I/O, temporary directories and recursive deletion.

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace ferry {

/// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// Reads all of `fd` / writes all of `data`, retrying on EINTR and short transfers. Throw SysError.
void write_full(int fd, std::string_view data, const std::string& what);
/// Reads up to `buf.size()` bytes, fewer only at end of file.
size_t read_full(int fd, std::span<char> buf, const std::string& what);

std::string read_file(const std::filesystem::path& path);
/// Writes `data` to `path` (created with `mode`), through a temporary file renamed into place, fsynced
/// when `durable`.
void write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode = 0644,
                       bool durable = false);

/// Creates `dir` and its missing parents (nothing when it exists). Throws SysError "creating <what> '<dir>'".
void make_directories(const std::filesystem::path& dir, std::string_view what = "directory");

/// Removes `path` and everything under it, first making read-only directories writable. No error when
/// it does not exist.
void delete_path(const std::filesystem::path& path);

/// Renames `from` to `to` on the same file system without ever replacing `to` (SysError EEXIST). A
/// read-only directory is made writable for the move (moving it to another parent rewrites its "..")
/// and read-only again at `to`.
void move_into_place(const std::filesystem::path& from, const std::filesystem::path& to);

/// A directory created with a unique name under `parent` and deleted, with its contents, on destruction
/// unless released.
class TempDir {
public:
    explicit TempDir(const std::filesystem::path& parent = std::filesystem::temp_directory_path(),
                     std::string_view prefix = "ferry");
    ~TempDir();
    TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    TempDir& operator=(TempDir&&) = delete;
    TempDir(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// Keep the directory: it is no longer deleted.
    std::filesystem::path release() {
        auto p = std::move(path_);
        path_.clear();
        return p;
    }

private:
    std::filesystem::path path_;
};

} // namespace ferry
