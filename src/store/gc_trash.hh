#pragma once
// The file side of garbage collection: the files of paths that are invalid already go. A file (or
// symlink) is unlinked at once; a directory is renamed into the trash, so that the store never holds a
// half-deleted tree, and the trees in the trash are deleted by worker threads.
//
// Threading: one thread calls take() and drain(); drain() runs the deletions on threads of its own.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ferry/util/file.hh"

namespace ferry {

class GcTrash {
public:
    /// `store_dir` and `trash` (inside it) must exist. `threads`: trees deleted at once (0: the number of
    /// cores, at most 4).
    GcTrash(const std::filesystem::path& store_dir, const std::filesystem::path& trash, unsigned threads = 0);

    /// Takes the entry `name` of the store directory away (nothing when it is gone already). Throws
    /// SysError naming the entry.
    void take(const std::string& name);
    /// Deletes the trees taken since the last drain(); returns the bytes freed by everything taken since
    /// then, as Nix counts them (files with one or two links). Throws the first deletion error.
    uint64_t drain();

private:
    std::filesystem::path store_dir_, trash_;
    UniqueFd store_fd_, trash_fd_;
    unsigned threads_;
    std::vector<std::string> trees_;
    uint64_t freed_ = 0;
};

} // namespace ferry
