#pragma once
/// Unpacking a NAR into the file system.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/store/nar_parser.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// A NarVisitor that creates the archive's tree at `dest`, which must not exist (it is created with
/// mkdir / O_EXCL / symlink, never overwritten). Files get mode 0644, or 0755 when executable, and
/// directories 0755 (as the umask allows): the final modes and timestamps are the business of
/// canonicalisation. Symlinks are created as given. Children are created relative to their parent's
/// descriptor, so deep trees do not hit PATH_MAX. File contents are written in large writes.
///
/// Until commit() is called, the destructor deletes whatever this restorer created, so a failed or
/// abandoned restore leaves nothing behind. Throws SysError naming the path. Not thread-safe.
class NarRestorer final : public NarVisitor {
public:
    explicit NarRestorer(std::filesystem::path dest);
    ~NarRestorer() override;
    NarRestorer(const NarRestorer&) = delete;
    NarRestorer& operator=(const NarRestorer&) = delete;

    /// Keeps the restored tree: call once the parser has finished without error.
    void commit() noexcept { committed_ = true; }
    /// Deletes whatever was created so far (also done by the destructor unless committed).
    void remove_partial();

    void create_directory(std::string_view path) override;
    void close_directory() override;
    void create_regular_file(std::string_view path, bool executable, uint64_t size) override;
    void file_contents(std::string_view chunk) override;
    void close_file() override;
    void create_symlink(std::string_view path, std::string_view target) override;

private:
    /// The directory descriptor to create `path`'s last component in, and that component (NUL-terminated),
    /// or -1 and dest_ for the root.
    int parent_fd(std::string_view path, std::string& name) const;
    std::string describe(std::string_view path) const;
    void flush();

    std::filesystem::path dest_;
    std::vector<UniqueFd> dirs_; // open directories, outermost first
    UniqueFd file_;
    std::string file_path_;
    std::unique_ptr<char[]> buf_;
    size_t buf_len_ = 0;
    bool created_ = false;
    bool committed_ = false;
};

/// Unpacks the NAR held in `nar` at `dest` (which must not exist); on any error nothing is left at
/// `dest`. Returns the NAR size. Throws FormatError for a malformed archive, SysError for the file system.
uint64_t restore_nar(std::string_view nar, const std::filesystem::path& dest);

} // namespace ferry
