#pragma once
/// The StoreView of a LocalStore: each call runs off the loop (the store's calls block on SQLite and the
/// file system) and resumes on the caller's loop. Short metadata reads (validity, path info, `.drv` files,
/// locks) run on a thread of their own, so that discovery never queues behind the decompression and
/// hashing that fill the shared pool; commits and build outputs run on the pool.
///
/// Threading: as StoreView (loop thread, stage() on the pool). Ownership: refers to the store and the
/// pool, which must outlive it.

#include <functional>

#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/store_view.hh"

namespace ferry {

class LocalStore;

class LocalStoreView final : public StoreView {
public:
    LocalStoreView(LocalStore& store, boost::asio::thread_pool& pool);

    const StoreDir& store_dir() const override;
    StoreLayout layout() const override;

    boost::asio::awaitable<StorePathSet> query_valid(StorePathSet paths) override;
    boost::asio::awaitable<std::optional<ValidPathInfo>> path_info(StorePath path) override;
    boost::asio::awaitable<std::shared_ptr<const Derivation>> read_derivation(StorePath drv) override;
    boost::asio::awaitable<StorePathSet> closure(StorePathSet paths) override;

    boost::asio::awaitable<std::unique_ptr<StoreLocks>> try_lock(StorePathSet paths) override;
    boost::asio::awaitable<void> commit(std::vector<StagedTree> trees) override;
    boost::asio::awaitable<void> discard(std::vector<StagedTree> trees) override;
    boost::asio::awaitable<void>
    register_derivation_outputs(StorePath drv, std::map<std::string, StorePath> outputs) override;
    std::unique_ptr<StagedPath> stage(std::string_view name) override;

    boost::asio::awaitable<std::unique_ptr<BuildLog>> open_build_log(StorePath drv) override;
    boost::asio::awaitable<std::vector<StagedTree>> stage_build_outputs(const BuildJob& job,
                                                                        BuiltOutputs& built) override;
    boost::asio::awaitable<void> check_build_outputs(const BuildJob& job, BuiltOutputs& built) override;

    LocalStore& store() noexcept { return store_; }
    /// Runs `hook` on the pool before each build starts (open_build_log), e.g. the automatic garbage
    /// collection of min-free. Set before the worker runs.
    void set_before_build(std::function<void()> hook) { before_build_ = std::move(hook); }
    /// Whether build logs are bzip2-compressed (`compress-build-log`, default true). Before any build.
    void set_compress_build_logs(bool compress) noexcept { compress_logs_ = compress; }

private:
    LocalStore& store_;
    boost::asio::thread_pool& pool_;
    bool compress_logs_ = true;
    /// Metadata reads.
    boost::asio::thread_pool reads_{1};
    std::function<void()> before_build_;
};

} // namespace ferry
