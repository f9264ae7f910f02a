#include "ferry/sched/local_store_view.hh"

#include "ferry/sched/build_log.hh"
#include "ferry/sched/build_outputs.hh"
#include "ferry/sched/check_build.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

struct LocalLocks final : StoreLocks {
    std::vector<PathLock> locks;
};

} // namespace

// Lambdas given to co_await capture by reference only: g++ 12 may destroy a temporary of a co_await
// expression twice, harmless for trivially destructible ones.

LocalStoreView::LocalStoreView(LocalStore& store, asio::thread_pool& pool) : store_(store), pool_(pool) {}

const StoreDir& LocalStoreView::store_dir() const {
    return store_.store_dir();
}

StoreLayout LocalStoreView::layout() const {
    return StoreLayout{store_.config().real_store_dir(), store_.config().staging_dir()};
}

asio::awaitable<StorePathSet> LocalStoreView::query_valid(StorePathSet paths) {
    auto& store = store_;
    // Every path the scheduler asks about is one this process wants: a temporary root before its
    // validity is looked at, so that a collection cannot take it afterwards (gc_roots.hh).
    auto result = co_await offload(reads_, [&store, &paths] {
        store.add_temp_roots(paths);
        return store.query_valid_paths(paths);
    });
    co_return result;
}

asio::awaitable<std::optional<ValidPathInfo>> LocalStoreView::path_info(StorePath path) {
    auto& store = store_;
    auto result = co_await offload(reads_, [&store, &path] {
        store.add_temp_roots({path});
        return store.query_path_info(path);
    });
    co_return result;
}

asio::awaitable<std::shared_ptr<const Derivation>> LocalStoreView::read_derivation(StorePath drv) {
    auto& store = store_;
    auto work = [&store, &drv] {
        store.add_temp_roots({drv});
        if (!store.is_valid_path(drv)) throw InvalidPath("path '{}' is not valid", store.print(drv));
        auto text = read_file(store.real_path(drv));
        auto name = std::string(drv.name());
        return with_context(fmt::format("reading derivation '{}'", store.print(drv)), [&] {
            return std::make_shared<const Derivation>(
                parse_derivation(store.store_dir(), text, name.substr(0, name.size() - 4)));
        });
    };
    auto result = co_await offload(reads_, work);
    co_return result;
}

asio::awaitable<StorePathSet> LocalStoreView::closure(StorePathSet paths) {
    auto& store = store_;
    auto result = co_await offload(pool_, [&store, &paths] { return store.compute_closure(paths); });
    co_return result;
}

asio::awaitable<std::unique_ptr<StoreLocks>> LocalStoreView::try_lock(StorePathSet paths) {
    auto& store = store_;
    auto work = [&store, &paths]() -> std::unique_ptr<StoreLocks> {
        auto held = std::make_unique<LocalLocks>();
        for (const auto& p : paths) {
            auto lock = store.try_lock_path(p);
            if (!lock) return nullptr;
            held->locks.push_back(std::move(*lock));
        }
        return held;
    };
    auto result = co_await offload(reads_, work);
    co_return result;
}

asio::awaitable<void> LocalStoreView::commit(std::vector<StagedTree> trees) {
    auto& store = store_;
    co_await offload(pool_, [&store, &trees] { commit_trees(store, std::move(trees)); });
}

asio::awaitable<void> LocalStoreView::discard(std::vector<StagedTree> trees) {
    co_await offload(pool_, [&trees] { trees.clear(); });
}

asio::awaitable<void> LocalStoreView::register_derivation_outputs(StorePath drv,
                                                                  std::map<std::string, StorePath> outputs) {
    auto& store = store_;
    co_await offload(pool_, [&store, &drv, &outputs] { store.register_derivation_outputs(drv, outputs); });
}

std::unique_ptr<StagedPath> LocalStoreView::stage(std::string_view name) {
    return std::make_unique<StagedPath>(store_.stage(name));
}

asio::awaitable<std::unique_ptr<BuildLog>> LocalStoreView::open_build_log(StorePath drv) {
    auto& store = store_;
    auto& hook = before_build_;
    auto* pool = &pool_;
    bool compress = compress_logs_;
    auto result = co_await offload(pool_, [&store, &drv, &hook, pool, compress] {
        if (hook) hook();
        return std::make_unique<BuildLog>(store, drv, compress, pool);
    });
    co_return result;
}

asio::awaitable<std::vector<StagedTree>> LocalStoreView::stage_build_outputs(const BuildJob& job,
                                                                             BuiltOutputs& built) {
    auto& store = store_;
    auto work = [&store, &job, &built] {
        return ferry::stage_build_outputs(store, job.drv_path, *job.drv, job.outputs, built,
                                          job.input_closure);
    };
    auto result = co_await offload(pool_, work);
    co_return result;
}

asio::awaitable<void> LocalStoreView::check_build_outputs(const BuildJob& job, BuiltOutputs& built) {
    auto& store = store_;
    co_await offload(pool_, [&store, &job, &built] {
        check_rebuild(store, job.drv_path, job.outputs, built, job.keep_failed, job.repair);
    });
}

} // namespace ferry
