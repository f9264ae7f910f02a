// BuildGoal: build a derivation. Inputs first (their goals run in parallel), then a build slot, the
// output locks, the builder, and the registration of all outputs in one transaction. In check mode the
// outputs must be valid already, and the rebuild is compared with them instead of registered.

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/sched/build_log.hh"
#include "ferry/sched/build_outputs.hh"
#include "ferry/sched/check_build.hh"
#include "ferry/sched/offload.hh"
#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"
#include "goals.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// Takes the locks of `paths` without blocking the loop: another process building the same paths
/// makes us wait, polling.
asio::awaitable<std::vector<PathLock>> lock_outputs(LocalStore& store, const StorePathSet& paths) {
    for (;;) {
        std::vector<PathLock> locks;
        for (const auto& p : paths) {
            auto lock = store.try_lock_path(p);
            if (!lock) break;
            locks.push_back(std::move(*lock));
        }
        if (locks.size() == paths.size()) co_return locks;
        locks.clear();
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

} // namespace

BuildGoal::BuildGoal(Worker& worker, StorePath drv, BuildMode mode)
    : Goal(worker, fmt::format("{} '{}'", mode == BuildMode::check ? "checking" : "building", worker.store().print(drv))),
      drv_(std::move(drv)), mode_(mode) {}

asio::awaitable<void> BuildGoal::realise_inputs(const Derivation& drv) {
    std::vector<std::shared_ptr<Goal>> inputs;
    for (const auto& [input, outputs] : drv.input_drvs)
        for (const auto& o : outputs) inputs.push_back(worker_.output_goal(input, o));
    for (const auto& src : drv.input_srcs) inputs.push_back(worker_.path_goal(src));
    size_t failed = 0;
    std::string first;
    for (const auto& g : inputs) {
        try {
            co_await g->wait(this);
        } catch (const Error& e) {
            if (!failed++) first = e.what();
        }
    }
    if (failed)
        throw BuildError("cannot build '{}': {} of its dependencies failed; the first: {}",
                         worker_.store().print(drv_), failed, first);
}

asio::awaitable<void> BuildGoal::run() {
    try {
        co_await build();
    } catch (const Error&) {
        // Counted here, once per derivation; cancellations are not failures.
        ++worker_.progress().counters.failed;
        worker_.progress().update();
        throw;
    }
}

asio::awaitable<void> BuildGoal::build() {
    auto& store = worker_.store();
    auto drv = co_await worker_.load_derivation(drv_, this);
    std::map<std::string, StorePath> outputs;
    StorePathSet output_paths;
    for (const auto& [name, _] : drv->outputs) {
        outputs.emplace(name, drv->output_path(store.store_dir(), name));
        output_paths.insert(outputs.at(name));
    }
    auto all_valid = [&] { return store.query_valid_paths(output_paths).size() == output_paths.size(); };
    bool check = mode_ == BuildMode::check;
    if (!check && all_valid()) co_return;
    // Before the inputs: a derivation this machine cannot build is refused at once.
    check_platform(worker_.options().platform, *drv, store.print(drv_));
    co_await realise_inputs(*drv);

    if (check && !all_valid())
        throw BuildError("some outputs of '{}' are not valid, so checking is not possible", store.print(drv_));
    if (!check && all_valid()) co_return;
    auto* builder = worker_.builder();
    if (!builder) throw BuildError("cannot build '{}': building is disabled here", store.print(drv_));

    auto& progress = worker_.progress();
    ++progress.counters.builds_expected;
    progress.update();
    auto slot = co_await worker_.build_slots().acquire();
    auto locks = co_await lock_outputs(store, output_paths);
    if (!check && all_valid()) co_return;

    StorePathSet inputs = drv->input_srcs;
    for (const auto& [input, wanted] : drv->input_drvs) {
        auto in = co_await worker_.load_derivation(input, this);
        for (const auto& o : wanted) inputs.insert(in->output_path(store.store_dir(), o));
    }
    // Lambdas given to co_await capture by reference only: g++ 12 may destroy a temporary of a
    // co_await expression twice, harmless for trivially destructible ones.
    auto closure = co_await offload(worker_.pool(), [&store, &inputs] { return store.compute_closure(inputs); });

    BuildLog log(store, drv_);
    BuildJob job{.drv_path = drv_, .drv = drv.get(), .store_dir = store.store_dir()};
    job.real_store_dir = store.config().real_store_dir();
    job.scratch_parent = store.config().staging_dir();
    job.outputs = outputs;
    job.input_closure = closure;
    job.env.store_dir = store.store_dir().dir();
    job.env.cores = worker_.options().cores;
    job.max_silent_time = worker_.options().max_silent_time;
    job.timeout = worker_.options().timeout;
    job.keep_failed = worker_.options().keep_failed;
    job.check = check;
    job.log = [&log, &progress, this](std::string_view data) {
        log.append(data);
        progress.build_log_line(worker_.store().print(drv_), data);
    };

    auto building = progress.start_build(store.print(drv_));
    ++progress.counters.builds_running;
    progress.update();
    struct Running {
        Progress& p;
        ~Running() {
            --p.counters.builds_running;
            p.update();
        }
    } running{progress};

    std::unique_ptr<BuiltOutputs> built;
    bool fixed_output = drv->is_fixed_output();
    try {
        built = co_await builder->build(job);
    } catch (BuildError& e) {
        worker_.build_failures().record(e, true, fixed_output);
        auto tail = log.tail();
        if (!tail.empty()) progress.message(fmt::format("last log lines of '{}':\n{}", store.print(drv_), tail));
        throw;
    }
    try {
        if (check)
            co_await offload(worker_.pool(),
                             [&] { check_rebuild(store, drv_, outputs, *built, job.keep_failed); });
        else
            co_await offload(worker_.pool(),
                             [&] { register_build_outputs(store, drv_, *drv, outputs, *built, closure); });
    } catch (BuildError& e) {
        worker_.build_failures().record(e, false, fixed_output);
        throw;
    }
    ++progress.counters.builds_done;
}

} // namespace ferry
