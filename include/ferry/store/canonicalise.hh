#pragma once
/// Canonical metadata for store contents, so that a path's files say nothing about when or how they were
/// made: every mtime (and atime) is 1, files are 0444 or 0555 (0555 when any execute bit was set),
/// directories 0555, no setuid/setgid/sticky bits, extended attributes other than security.* removed.
/// Run as root, every file becomes this process's (the store owner's), as Nix gives back what a build user
/// made; otherwise owners are left as they are.

#include <filesystem>

namespace ferry {

/// Canonicalises the tree at `path` (a file, a symlink or a directory, recursively) without following
/// symlinks. Throws Error naming the file when it finds another file type (device, fifo, socket) and
/// SysError when a change is refused (e.g. a file of another owner). Not safe against other processes
/// modifying the tree at the same time; the caller owns the tree (a staging directory).
void canonicalise_path(const std::filesystem::path& path);

/// The canonical permission bits for a regular file of mode `mode`: 0555 if any execute bit is set,
/// 0444 otherwise.
constexpr unsigned canonical_file_mode(unsigned mode) {
    return (mode & 0111) ? 0555 : 0444;
}

} // namespace ferry
