#pragma once
/// The store as the scheduler sees it: every call is awaitable, so that the goal graph never blocks its
/// loop thread. The real one (LocalStoreView, sched/local_store_view.hh) runs each call on the thread
/// pool; the scheduler's tests use a map-backed fake that needs no SQLite, no files and no processes.
///
/// The one way to validity: substituters and builders hand over verified staged trees; make_valid()
/// takes the paths' locks (one lock-wait policy: try, then wait with back-off, never blocking the loop),
/// and StoreView::commit() re-checks validity and makes the rest valid in one transaction.
///
/// Threading: every member is called on the worker's io_context thread, except stage(), which is
/// blocking and called on the pool (by a substituter unpacking a download).

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/store/derivation.hh"
#include "ferry/store/path_info.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

class BuildLog;

/// Contents on their way to becoming a valid path: verified (the info's NAR hash and size are those of
/// the tree), not yet valid. Move-only. Hand it to make_valid() or StoreView::discard(); dropped
/// otherwise, its staging directory is deleted on the thread that drops it.
struct StagedTree {
    /// The files; null for a store that keeps none (a test's fake).
    std::unique_ptr<StagedPath> staged;
    ValidPathInfo info;
};

/// The paths' locks, held until destroyed (cheap: closes descriptors).
class StoreLocks {
public:
    virtual ~StoreLocks() = default;
};

/// Where a builder finds the store's files.
struct StoreLayout {
    /// Where the store's files are on the host (`<root>/nix/store`).
    std::filesystem::path real_store_dir;
    /// Scratch space on the store's file system.
    std::filesystem::path staging_dir;
};

class StoreView {
public:
    virtual ~StoreView() = default;

    virtual const StoreDir& store_dir() const = 0;
    std::string print(const StorePath& path) const { return store_dir().print(path); }
    /// Where the files are, for builders (no I/O).
    virtual StoreLayout layout() const = 0;

    /// The subset of `paths` that is valid, read in one transaction.
    virtual boost::asio::awaitable<StorePathSet> query_valid(StorePathSet paths) = 0;
    /// Whether `path` is valid. The calls made on one turn of the loop are answered by one
    /// query_valid() (one transaction for the many paths a large graph checks at once).
    boost::asio::awaitable<bool> is_valid(StorePath path);
    virtual boost::asio::awaitable<std::optional<ValidPathInfo>> path_info(StorePath path) = 0;
    /// The valid derivation at `drv`, parsed. Throws Error naming it (InvalidPath when not valid,
    /// FormatError when malformed).
    virtual boost::asio::awaitable<std::shared_ptr<const Derivation>> read_derivation(StorePath drv) = 0;
    /// `paths` and everything they refer to; throws InvalidPath for an invalid one.
    virtual boost::asio::awaitable<StorePathSet> closure(StorePathSet paths) = 0;

    /// The locks of all `paths` when none is held elsewhere, else null (and none taken).
    virtual boost::asio::awaitable<std::unique_ptr<StoreLocks>> try_lock(StorePathSet paths) = 0;
    /// Makes `trees` valid in one transaction, skipping those whose path is valid already (their trees
    /// are deleted). The caller holds their locks (make_valid() does that). Throws; nothing of them is
    /// valid then, and nothing stays staged.
    virtual boost::asio::awaitable<void> commit(std::vector<StagedTree> trees) = 0;
    /// Deletes staged trees that will not be committed, off the loop.
    virtual boost::asio::awaitable<void> discard(std::vector<StagedTree> trees) = 0;
    /// Records the outputs of the valid derivation `drv`.
    virtual boost::asio::awaitable<void>
    register_derivation_outputs(StorePath drv, std::map<std::string, StorePath> outputs) = 0;
    /// Blocking (pool): a fresh staging directory for the contents of a path named `name`.
    virtual std::unique_ptr<StagedPath> stage(std::string_view name) = 0;

    // --- Builds ----------------------------------------------------------------------------------

    /// The log of building `job.drv_path`, opened.
    virtual boost::asio::awaitable<std::unique_ptr<BuildLog>> open_build_log(StorePath drv) = 0;
    /// The outputs a builder made (`built`), moved into staging, canonicalised, NAR-hashed and scanned
    /// for references (among `job.input_closure` and the outputs), fixed-output hashes checked. Throws
    /// BuildError / OutputHashMismatch naming the derivation.
    virtual boost::asio::awaitable<std::vector<StagedTree>> stage_build_outputs(const BuildJob& job,
                                                                                BuiltOutputs& built) = 0;
    /// `--check`: compares the rebuilt outputs with the valid ones (NotDeterministic when one differs).
    virtual boost::asio::awaitable<void> check_build_outputs(const BuildJob& job, BuiltOutputs& built) = 0;

private:
    struct ValidityBatch;
    /// The batch is_valid() calls join until its query starts.
    std::shared_ptr<ValidityBatch> open_batch_;
};

/// Takes the locks of `paths`: at once when nobody holds them, else waiting with back-off (5 ms,
/// doubling, at most 500 ms between attempts) on a timer: the loop keeps running meanwhile. The one
/// lock-wait policy of the scheduler.
boost::asio::awaitable<std::unique_ptr<StoreLocks>> lock_paths(StoreView& store, StorePathSet paths);

/// The one way to validity: locks the trees' paths (unless `held` holds them already), then commits
/// them in one transaction; trees whose path became valid meanwhile are left out.
boost::asio::awaitable<void> make_valid(StoreView& store, std::vector<StagedTree> trees,
                                        const StoreLocks* held = nullptr);

} // namespace ferry
