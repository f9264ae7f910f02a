#pragma once
// A map-backed StoreView for the scheduler's tests: no SQLite, no files, no processes. Valid paths and
// derivations live in maps; staged trees carry no files; build logs stay in memory. With a delay,
// every call sleeps that long on the thread pool before it answers (a slow disk), so that a test can
// tell whether anything waits for the store on the loop thread.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/store_view.hh"
#include "ferry/store/derivation_hash.hh"

namespace ferry::test {

class FakeStore final : public StoreView {
public:
    /// `delay` 0: calls answer at once, on the loop thread (no pool hop); otherwise on `pool`.
    explicit FakeStore(boost::asio::thread_pool& pool,
                       std::chrono::milliseconds delay = std::chrono::milliseconds(0));

    // --- Setting up (before the worker runs) -------------------------------------------------------
    /// Makes `path` valid, referring to `references`.
    void add_valid(const StorePath& path, const StorePathSet& references = {});
    /// Adds a valid derivation named `name` whose inputs are the "out" outputs of `inputs`; returns its
    /// path (a `.drv` path computed as Nix would).
    StorePath add_derivation(const std::string& name, const std::vector<StorePath>& inputs,
                             const std::vector<std::string>& outputs = {"out"});
    /// Adds `drv` (its output paths not filled in: this does it) as a valid derivation; returns its path.
    StorePath add_derivation(Derivation drv);
    /// Output `output` of the derivation `drv` added here.
    StorePath output_path(const StorePath& drv, const std::string& output = "out") const;

    // --- Inspecting (after the run) ----------------------------------------------------------------
    bool valid(const StorePath& path) const;
    /// Paths made valid by commit(), in commit order.
    std::vector<StorePath> committed() const;
    /// How often each derivation was read.
    std::map<StorePath, int> reads() const;
    /// Derivations whose rebuild was compared (check_build_outputs).
    std::vector<StorePath> checked() const;
    /// Calls answered, all kinds.
    size_t calls() const { return calls_; }

    // --- StoreView --------------------------------------------------------------------------------
    const StoreDir& store_dir() const override { return dir_; }
    StoreLayout layout() const override { return {}; }
    boost::asio::awaitable<StorePathSet> query_valid(StorePathSet paths) override;
    boost::asio::awaitable<std::optional<ValidPathInfo>> path_info(StorePath path) override;
    boost::asio::awaitable<std::shared_ptr<const Derivation>> read_derivation(StorePath drv) override;
    boost::asio::awaitable<StorePathSet> closure(StorePathSet paths) override;
    boost::asio::awaitable<std::unique_ptr<StoreLocks>> try_lock(StorePathSet paths) override;
    boost::asio::awaitable<void> commit(std::vector<StagedTree> trees) override;
    boost::asio::awaitable<void> discard(std::vector<StagedTree> trees) override;
    boost::asio::awaitable<void>
    register_derivation_outputs(StorePath drv, std::map<std::string, StorePath> outputs) override;
    std::unique_ptr<StagedPath> stage(std::string_view) override { return nullptr; }
    boost::asio::awaitable<std::unique_ptr<BuildLog>> open_build_log(StorePath drv) override;
    boost::asio::awaitable<std::vector<StagedTree>> stage_build_outputs(const BuildJob& job,
                                                                        BuiltOutputs& built) override;
    boost::asio::awaitable<void> check_build_outputs(const BuildJob& job, BuiltOutputs& built) override;

private:
    struct Locks;
    /// Runs `fn()` under the mutex: at once without a delay, else on the pool after sleeping.
    template <typename Fn> boost::asio::awaitable<std::invoke_result_t<Fn&>> answer(Fn fn);

    boost::asio::thread_pool& pool_;
    std::chrono::milliseconds delay_;
    StoreDir dir_;
    mutable std::mutex mutex_;
    std::map<StorePath, ValidPathInfo> valid_;
    std::map<StorePath, std::shared_ptr<const Derivation>> derivations_;
    std::set<StorePath> locked_;
    std::vector<StorePath> committed_;
    std::map<StorePath, int> reads_;
    std::vector<StorePath> checked_;
    std::atomic<size_t> calls_{0};
    /// Memoises the inputs' hashes while derivations are added.
    DerivationHasher hasher_;
};

} // namespace ferry::test
