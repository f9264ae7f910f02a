#pragma once
/// A private place in the store's staging area where a store path's contents are built (unpacked,
/// copied, written by a builder) before they are renamed into the store. Being on the store's
/// filesystem, the final move is one atomic rename.
///
/// Each StagedPath is a directory `<staging>/<owner>-<n>-<name>/` holding the contents at `…/out` (a
/// file, a directory or a symlink). `<owner>` ("<pid>-<random>") names the process, which holds an
/// flock on `<staging>/<owner>.lock` for its whole life (one descriptor per process, however many paths
/// it stages), so that clean_stale_staging() can tell abandoned directories (their process crashed) from
/// live ones.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/util/file.hh"

namespace ferry {

/// Owns a staging directory; deletes it (and whatever it contains) on destruction unless the contents
/// were committed. Movable, not copyable; one thread at a time.
class StagedPath {
public:
    /// Creates a fresh staging directory under `staging_dir` (which must exist). `name` is only a hint
    /// for people looking at the directory.
    StagedPath(const std::filesystem::path& staging_dir, std::string_view name);
    ~StagedPath();
    StagedPath(StagedPath&& o) noexcept;
    StagedPath& operator=(StagedPath&&) = delete;
    StagedPath(const StagedPath&) = delete;
    StagedPath& operator=(const StagedPath&) = delete;

    /// Where the contents go; it does not exist until the caller creates it.
    const std::filesystem::path& path() const noexcept { return contents_; }
    /// Whether the contents were created.
    bool has_contents() const;

    /// Renames the contents to `dest`, which must not exist (never replaces anything: renameat2 with
    /// RENAME_NOREPLACE), then removes the staging directory. Throws SysError naming `dest`; on failure
    /// the contents stay staged.
    void commit(const std::filesystem::path& dest);
    bool committed() const noexcept { return committed_; }

private:
    std::filesystem::path dir_;
    std::filesystem::path contents_;
    bool committed_ = false;
};

/// A fresh name for an entry of the staging area, claimed by this process ("<owner>-<n>-<hint>").
/// Thread-safe.
std::string staging_entry_name(const std::filesystem::path& staging_dir, std::string_view hint);

/// Deletes the staging directories whose process is gone (left behind by crashes), the scratch
/// directories those processes claimed (ScratchDir: a symlink to a directory elsewhere, both deleted),
/// and those processes' lock files. Safe to run while other processes (and this one) stage paths: a live
/// process's lock cannot be taken. Returns the number of directories deleted.
size_t clean_stale_staging(const std::filesystem::path& staging_dir);

/// An entry of the staging area whose process is gone: what clean_stale_staging() deletes.
struct StaleStagingEntry {
    std::filesystem::path entry;
    /// The build directory a scratch claim points to; empty for a staged path or a lock file.
    std::filesystem::path scratch;
    /// The pid of the process that made it.
    std::string pid;
};

/// The entries clean_stale_staging() would delete now, found without changing anything.
std::vector<StaleStagingEntry> find_stale_staging(const std::filesystem::path& staging_dir);

/// Whether a name in the staging area is a process's lock file rather than a staged path.
bool is_staging_lock(std::string_view name);

} // namespace ferry
