#pragma once
/// The local store: store paths' files under a physical root, their metadata in SQLite, and the one
/// safe way for a path to become valid (stage → canonicalise → hash → rename into place → register in
/// one transaction).
///
/// Threading: every member function may be called from any thread; database access is serialised by
/// an internal mutex, and path locks exclude other threads and processes. Blocking: all calls do
/// file-system and SQLite I/O on the calling thread (run them on a thread pool from the event loop).
/// Several LocalStore objects, in one process or several, may open the same store at once.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/store/nar_dump.hh"
#include "ferry/store/path_info.hh"
#include "ferry/store/path_lock.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/store/store_config.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/error.hh"

namespace ferry {

class StoreDb;
struct StoreGraph;

/// A store path that is not valid where a valid one is required. The message names the path.
class InvalidPath : public Error {
public:
    using Error::Error;
};

/// Reads up to `buf.size()` bytes into `buf`; returns how many, 0 only at the end of the stream.
using ByteSource = std::function<size_t(std::span<char> buf)>;

/// Staged contents on their way to becoming a valid path (see LocalStore::commit_staged).
struct StagedOutput {
    /// Holds the contents; must outlive the commit_staged() call.
    StagedPath* staged;
    /// Everything to register. nar_hash/nar_size are filled in by commit_staged unless `hash_known`.
    ValidPathInfo info;
    /// The caller already hashed exactly these contents (e.g. while unpacking a NAR stream).
    bool hash_known = false;
};

class LocalStore {
public:
    /// Opens the store of `config`, creating its directories and database when missing, and deletes
    /// staging directories abandoned by crashed processes. Throws Error/SqliteError.
    explicit LocalStore(StoreConfig config);
    ~LocalStore();
    LocalStore(const LocalStore&) = delete;
    LocalStore& operator=(const LocalStore&) = delete;

    const StoreDir& store_dir() const noexcept { return store_dir_; }
    const StoreConfig& config() const noexcept { return config_; }
    /// The full logical path, "/nix/store/<base name>".
    std::string print(const StorePath& path) const { return store_dir_.print(path); }
    /// Where the files of `path` are: <root>/nix/store/<base name>.
    std::filesystem::path real_path(const StorePath& path) const;

    // --- Queries ---------------------------------------------------------------------------------

    bool is_valid_path(const StorePath& path);
    std::optional<ValidPathInfo> query_path_info(const StorePath& path);
    /// As query_path_info(); throws InvalidPath ("path '/nix/store/…' is not valid") when not valid.
    ValidPathInfo require_path_info(const StorePath& path);
    /// The valid path with this hash part, if any.
    std::optional<StorePath> query_path_from_hash_part(std::string_view hash_part);
    /// The valid paths that refer to `path` (itself included when it refers to itself).
    StorePathSet query_referrers(const StorePath& path);
    /// The subset of `paths` that is valid, read in one transaction.
    StorePathSet query_valid_paths(const StorePathSet& paths);
    /// `paths` and everything they refer to, transitively. Throws InvalidPath for an invalid path.
    StorePathSet compute_closure(const StorePathSet& paths);
    /// `paths` ordered so that every path comes after the paths of the set it refers to (references
    /// first). Self-references are ignored; throws Error naming a path on a reference cycle and
    /// InvalidPath for an invalid path.
    std::vector<StorePath> topo_sort(const StorePathSet& paths);
    /// Output name → path recorded for derivation `drv`.
    std::map<std::string, StorePath> query_derivation_outputs(const StorePath& drv);

    // --- Registration ----------------------------------------------------------------------------

    /// Makes `infos` valid in one transaction. Every reference must be valid already or be in `infos`,
    /// and every path's files must exist; otherwise throws (InvalidPath / Error naming the path) and
    /// registers nothing. A registration time of 0 becomes now. A path that is already valid gets its
    /// metadata updated. Prefer commit_staged(), which also puts the files in place.
    void register_valid_paths(const std::vector<ValidPathInfo>& infos);
    /// Records the outputs of the valid derivation `drv`.
    void register_derivation_outputs(const StorePath& drv, const std::map<std::string, StorePath>& outputs);
    /// Adds signatures to a valid path's set.
    void add_signatures(const StorePath& path, const std::set<std::string>& signatures);

    // --- Locks and staging -----------------------------------------------------------------------

    /// Blocks until this process holds `path`'s lock (see PathLock for the threading rules).
    PathLock lock_path(const StorePath& path);
    std::optional<PathLock> try_lock_path(const StorePath& path);
    /// Locks all of `paths` in a deadlock-free order.
    std::vector<PathLock> lock_paths(const StorePathSet& paths);
    /// A fresh staging directory for the contents of a path named `name`.
    StagedPath stage(std::string_view name);

    /// Makes staged contents valid: canonicalises them, hashes them (unless `hash_known`), renames each
    /// into its real path (deleting a stale tree of an invalid path there first), and registers all of
    /// them in one transaction. On failure the moved trees are deleted again, so nothing half-done
    /// stays valid. The caller must hold the lock of every output path, and none may be valid.
    void commit_staged(std::vector<StagedOutput> outputs);

    // --- Maintenance (garbage collection, verify) -----------------------------------------------

    /// Every valid path with its hash, size, references, deriver and recorded outputs, read in one
    /// transaction.
    StoreGraph load_graph();
    /// Makes `order` invalid in one transaction, in that order (referrers first). With
    /// `check_referrers`, throws Error ("cannot delete path '…' because it is in use by '…'") when a
    /// valid path outside `order` refers to one of them; without, the schema's foreign key refuses.
    /// Their files are the caller's (GC moves them away after this).
    void invalidate_paths(const std::vector<StorePath>& order, bool check_referrers = true);
    /// Makes the paths with row ids `ids` (StoreGraph::ids) invalid in one transaction, set-wise (their
    /// references, recorded outputs and rows deleted by id, in any order): the garbage collector's
    /// fast way. Throws Error ("cannot delete path '…' because it is in use by '…'") when a valid path
    /// outside them refers to one; nothing changes then. Ids of paths no longer valid are ignored.
    void invalidate_ids(const std::vector<int64_t>& ids);
    /// Makes `paths` temporary roots of this process (gc_roots.hh): call before looking at their
    /// validity, so that a collection never takes them while this process uses them.
    void add_temp_roots(const StorePathSet& paths);

    // --- Adding and reading contents -------------------------------------------------------------

    /// Adds a copy of `src` as a content-addressed path (like `nix store add-path` / `builtins.path`):
    /// recursive → the sha256 of its NAR, type "source"; flat → the sha256 of the regular file. Returns
    /// the path; does nothing more when it is valid already.
    StorePath add_to_store(const std::filesystem::path& src, FileIngestionMethod method,
                           std::string_view name);
    /// Adds a text file (`.drv` files, builtins.toFile) whose path depends on its references.
    StorePath add_text(std::string_view name, std::string_view contents, const StorePathSet& references);
    /// Unpacks a NAR stream as `expected.path`, hashing it on the way. Throws HashMismatch naming the
    /// path, the expected and the actual hash when they differ (or when expected.nar_size is non-zero
    /// and differs), FormatError for a malformed stream; the store is unchanged then. A path already
    /// valid is left alone (the stream is still read and checked).
    void import_nar(const ByteSource& source, ValidPathInfo expected);
    /// As above, reading `fd` to its end.
    void import_nar(int fd, ValidPathInfo expected);
    /// Writes the NAR serialisation of the valid `path` to `sink`.
    void dump(const StorePath& path, const NarSink& sink);

private:
    /// Runs `fn(StoreDb&)` with the database mutex held.
    template <typename Fn> decltype(auto) with_db(Fn&& fn);
    void move_into_place(StagedPath& staged, const StorePath& path);
    void check_registrable(const std::vector<ValidPathInfo>& infos);
    /// syncfs() of the store's file system (durable stores, before registering).
    void sync_store_files();
    /// Runs the import of `expected.path` once its lock is held.
    void import_locked(const ByteSource& source, ValidPathInfo& expected);
    std::filesystem::path lock_file(const StorePath& path) const;

    StoreConfig config_;
    StoreDir store_dir_;
    std::filesystem::path real_store_dir_;
    std::mutex db_mutex_;
    std::unique_ptr<StoreDb> db_;
};

template <typename Fn> decltype(auto) LocalStore::with_db(Fn&& fn) {
    std::lock_guard lock(db_mutex_);
    return fn(*db_);
}

} // namespace ferry
