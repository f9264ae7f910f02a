// BuildGoal: build a derivation, as the planner decides. Inputs first (their goals run in parallel), then
// the output locks (waited for without a build slot), a build slot, the builder, and the outputs' staged
// trees made valid in one transaction. In check mode the outputs must be valid already, and the rebuild
// is compared with them instead. In a dry run the build is recorded once the inputs are (virtually)
// valid.

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/sched/build_log.hh"
#include "ferry/sched/worker.hh"
#include "ferry/util/finally.hh"
#include "ferry/util/offload.hh"
#include "goals.hh"
#include "planner.hh"

namespace asio = boost::asio;

namespace ferry {

BuildGoal::BuildGoal(Worker& worker, StorePath drv, BuildMode mode)
    : Goal(worker, fmt::format("{} '{}'", mode == BuildMode::check ? "checking" : "building",
                               worker.store().print(drv))),
      drv_(std::move(drv)), mode_(mode) {}

asio::awaitable<void> BuildGoal::realise_inputs(const Derivation& drv) {
    std::vector<std::shared_ptr<Goal>> inputs;
    for (const auto& [input, outputs] : drv.input_drvs)
        for (const auto& o : outputs)
            inputs.push_back(worker_.output_goal(input, o));
    for (const auto& src : drv.input_srcs)
        inputs.push_back(worker_.path_goal(src));
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
    // However the build ends, its activity ends with run(): the counters cannot drift.
    Finally end_activity([this] { activity_.reset(); });
    try {
        co_await build();
    } catch (const Error&) {
        // Counted here, once per derivation (a refused one, or one whose dependency failed, too);
        // cancellations are not failures.
        if (activity_)
            activity_->failed();
        else
            worker_.progress().build_failed(worker_.store().print(drv_));
        throw;
    }
}

asio::awaitable<void> BuildGoal::build() {
    auto& store = worker_.store();
    auto drv = co_await worker_.load_derivation(drv_, this);
    if (!drv) co_return; // a dry run: the `.drv` would be fetched first
    std::map<std::string, StorePath> outputs;
    StorePathSet output_paths;
    for (const auto& [name, _] : drv->outputs) {
        outputs.emplace(name, drv->output_path(store.store_dir(), name));
        output_paths.insert(outputs.at(name));
    }
    auto decision = co_await worker_.planner().decide_build(output_paths, mode_);
    if (decision.kind == Decision::Kind::valid) co_return;
    bool check = decision.kind == Decision::Kind::check;
    auto* dry = worker_.dry_run();
    // Before the inputs: a derivation this machine cannot build is refused at once (a dry run lists it,
    // as Nix's does).
    if (!dry) check_platform(worker_.options().platform, *drv, store.print(drv_));
    co_await realise_inputs(*drv);
    if (dry) {
        dry->will_build.insert(drv_);
        co_return;
    }

    auto all_valid = [&store, &output_paths]() -> asio::awaitable<bool> {
        auto valid = co_await store.query_valid(output_paths);
        co_return valid.size() == output_paths.size();
    };
    if (check && !co_await all_valid())
        throw BuildError("some outputs of '{}' are not valid, so checking is not possible",
                         store.print(drv_));
    if (!check && co_await all_valid()) co_return;
    auto* builder = worker_.builder();
    if (!builder) throw BuildError("cannot build '{}': building is disabled here", store.print(drv_));

    activity_ = worker_.progress().want_build(store.print(drv_));
    // Another process may be building the same outputs: wait for their locks holding no build slot.
    auto locks = co_await lock_paths(store, output_paths);
    if (!check && co_await all_valid()) {
        // It made them valid meanwhile: nothing to build, and nothing more expected.
        activity_.reset();
        co_return;
    }
    auto slot = co_await worker_.build_slots().acquire();

    StorePathSet inputs = drv->input_srcs;
    for (const auto& [input, wanted] : drv->input_drvs) {
        auto in = co_await worker_.load_derivation(input, this);
        for (const auto& o : wanted)
            inputs.insert(in->output_path(store.store_dir(), o));
    }
    auto closure = co_await store.closure(inputs);

    auto layout = store.layout();
    BuildJob job{.drv_path = drv_, .drv = drv.get(), .store_dir = store.store_dir()};
    job.real_store_dir = layout.real_store_dir;
    job.scratch_parent = layout.staging_dir;
    job.outputs = outputs;
    job.input_closure = std::move(closure);
    job.env.store_dir = store.store_dir().dir();
    job.env.cores = worker_.options().cores;
    job.max_silent_time = worker_.options().max_silent_time;
    job.timeout = worker_.options().timeout;
    job.max_log_size = worker_.options().max_log_size;
    job.keep_failed = worker_.options().keep_failed;
    job.check = check;
    job.pool = &worker_.pool();
    co_await run_builder(job, *locks);
    activity_->succeeded();
}

asio::awaitable<void> BuildGoal::run_builder(BuildJob& job, const StoreLocks& locks) {
    auto& store = worker_.store();
    auto& progress = worker_.progress();
    std::unique_ptr<BuildLog> log = co_await store.open_build_log(drv_);
    job.log = [&log, this](std::string_view data) {
        log->append(data);
        activity_->log(data);
    };
    job.log_wait = [&log] { return log->wait_writable(); };
    activity_->start();

    std::unique_ptr<BuiltOutputs> built;
    bool fixed_output = job.drv->is_fixed_output();
    std::exception_ptr failure;
    try {
        built = co_await worker_.builder()->build(job);
    } catch (BuildError& e) {
        worker_.build_failures().record(e, true, fixed_output);
        auto tail = log->tail();
        if (!tail.empty())
            progress.message(fmt::format("last log lines of '{}':\n{}", store.print(drv_), tail));
        failure = std::current_exception();
    } catch (...) {
        failure = std::current_exception();
    }
    // The log's last batch and the end of its compressed stream are written off the loop, however the
    // build ended; a failed write fails a build that otherwise succeeded (it names the file and why).
    co_await close_log(*log, failure != nullptr);
    if (failure) std::rethrow_exception(failure);
    try {
        if (job.check) {
            co_await store.check_build_outputs(job, *built);
        } else {
            std::vector<StagedTree> trees = co_await store.stage_build_outputs(job, *built);
            co_await make_valid(store, std::move(trees), &locks);
            co_await store.register_derivation_outputs(drv_, job.outputs);
        }
    } catch (BuildError& e) {
        worker_.build_failures().record(e, false, fixed_output);
        throw;
    }
    // The builder's scratch space goes off the loop.
    co_await offload(worker_.pool(), [&built] { built.reset(); });
}

asio::awaitable<void> BuildGoal::close_log(BuildLog& log, bool failed) {
    co_await asio::this_coro::reset_cancellation_state();
    std::exception_ptr error;
    co_await offload(worker_.pool(), [&log, &error] {
        try {
            log.finish();
        } catch (...) {
            error = std::current_exception();
        }
    });
    if (error && !failed) std::rethrow_exception(error);
}

} // namespace ferry
