#pragma once
/// A temporary directory outside the store (a build directory under /tmp), claimed in the store's
/// staging area by a symlink `<staging>/<owner>-<n>-scratch` → the directory, so that a process killed
/// mid-build leaves nothing behind for long: clean_stale_staging() (at the next start-up of any ferry on
/// the store) deletes the directory of a dead owner, then the claim. A kept directory (keep-failed) has
/// its claim removed and stays.

#include <filesystem>
#include <string_view>

namespace ferry {

/// Owns the directory and its claim; deletes both on destruction unless released. Movable, not
/// copyable; one thread at a time.
class ScratchDir {
public:
    /// Creates `<parent>/<prefix>-<pid>-<random>` (0700), claimed under `staging_dir` (which must exist)
    /// before it exists. Throws SysError.
    ScratchDir(const std::filesystem::path& staging_dir, const std::filesystem::path& parent,
               std::string_view prefix);
    ~ScratchDir();
    ScratchDir(ScratchDir&& o) noexcept;
    ScratchDir& operator=(ScratchDir&&) = delete;
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    /// Keeps the directory (its claim goes): it is no longer deleted, not even by a cleaner.
    std::filesystem::path release();

private:
    std::filesystem::path path_;
    std::filesystem::path claim_;
};

} // namespace ferry
