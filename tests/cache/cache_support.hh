#pragma once
/// Binary caches for tests and benchmarks: synthetic ones written from a list of paths (signed,
/// compressed), and helpers to edit narinfo files.

#include <filesystem>
#include <string>
#include <vector>

#include "ferry/cache/narinfo.hh"
#include "ferry/cache/signature.hh"
#include "ferry/store/store_path.hh"

namespace ferry::test {

/// One path of a synthetic cache: its NAR is a single regular file holding `contents`.
struct SyntheticPath {
    StorePath path;
    StorePathSet references;
    std::string contents;
};

/// A store path named `name` whose hash part is derived from `name` (so equal names, equal paths).
StorePath synthetic_store_path(const std::string& name);

/// The NAR of a single regular file holding `contents`, built in memory.
std::string regular_file_nar(std::string_view contents);

/// Writes a binary cache into `dir` (created when missing): nix-cache-info (StoreDir `store_dir`,
/// Priority `priority`), one narinfo per path signed by `key`, and its NAR compressed with
/// `compression` under nar/. Returns the narinfos written.
std::vector<NarInfo> write_synthetic_cache(const std::filesystem::path& dir,
                                           const std::vector<SyntheticPath>& paths, const SecretKey& key,
                                           const std::string& compression = "xz",
                                           const std::string& store_dir = "/nix/store", int priority = 40);

/// A tree of paths for concurrency and round-trip tests: `root` refers to `width` paths, each of which
/// refers to `fanout` paths of the next level, `depth` levels below the root (so the closure has depth
/// `depth`). Names are unique per `tag`.
std::vector<SyntheticPath> synthetic_tree(const std::string& tag, size_t depth, size_t width, size_t fanout);

/// The narinfo file of `path` in the cache at `dir`.
std::filesystem::path narinfo_file(const std::filesystem::path& dir, const StorePath& path);
/// Parses, edits (with `edit`) and rewrites a narinfo file.
template <typename Edit> void edit_narinfo(const std::filesystem::path& file, Edit&& edit);

/// Reads and writes a narinfo file (helpers of edit_narinfo).
NarInfo read_narinfo(const std::filesystem::path& file);
void write_narinfo(const std::filesystem::path& file, const NarInfo& info);

template <typename Edit> void edit_narinfo(const std::filesystem::path& file, Edit&& edit) {
    NarInfo info = read_narinfo(file);
    edit(info);
    write_narinfo(file, info);
}

} // namespace ferry::test
