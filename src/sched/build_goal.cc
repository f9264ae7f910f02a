// BuildGoal: build a derivation, as the planner decides. Inputs first (their goals run in parallel), then
// the output locks (waited for without a build slot), a slot on a machine that can build it (this one, or
// a remote one: remote_build.cc; machine_slots.hh chooses), the build, and the outputs' staged trees
// made valid in one transaction. In check mode the outputs must be valid already, and the rebuild (here)
// is compared with them instead. In a dry run the build is recorded, with the machines that could take
// it, once the inputs are (virtually) valid.

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/sched/build_log.hh"
#include "ferry/sched/worker.hh"
#include "ferry/util/finally.hh"
#include "ferry/util/offload.hh"
#include "goals.hh"
#include "machine_slots.hh"
#include "planner.hh"

namespace asio = boost::asio;

namespace ferry {

BuildGoal::BuildGoal(Worker& worker, StorePath drv, BuildMode mode)
    : Goal(worker, fmt::format("{} '{}'",
                               mode == BuildMode::check    ? "checking"
                               : mode == BuildMode::repair ? "repairing"
                                                           : "building",
                               worker.store().print(drv))),
      drv_(std::move(drv)), mode_(mode) {}

asio::awaitable<void> BuildGoal::realise_inputs(const Derivation& drv) {
    std::vector<std::shared_ptr<Goal>> inputs;
    // The critical path: each input is needed by this build, one step further from the targets.
    for (const auto& [input, outputs] : drv.input_drvs)
        worker_.raise_height(input, worker_.height(drv_) + 1);
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
    // Before the inputs: a derivation no machine can build is refused at once (a dry run lists it, as
    // Nix's does).
    auto candidates = worker_.build_candidates(*drv, drv_, check);
    co_await realise_inputs(*drv);
    if (dry) {
        dry->will_build.insert(drv_);
        if (!candidates.empty()) dry->build_machines[drv_] = worker_.describe_machines(candidates);
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
    if (!worker_.builder()) {
        // Nothing is built here: only remote machines can take it.
        std::erase(candidates, size_t(0));
        if (candidates.empty())
            throw BuildError("cannot build '{}': building is disabled here", store.print(drv_));
    }

    activity_ = worker_.progress().want_build(store.print(drv_));
    // Another process may be building the same outputs: wait for their locks holding no build slot.
    auto locks = co_await lock_paths(store, output_paths);
    if (!check && co_await all_valid()) {
        // It made them valid meanwhile: nothing to build, and nothing more expected.
        activity_.reset();
        co_return;
    }
    BuildJob job{.drv_path = drv_, .drv = drv.get(), .store_dir = store.store_dir()};
    co_await prepare_job(job, outputs, check);
    std::unique_ptr<BuildLog> log = co_await store.open_build_log(drv_);
    job.log = [&log, this](std::string_view data) {
        log->append(data);
        activity_->log(data);
    };
    job.log_wait = [&log] { return log->wait_writable(); };
    // The log is finished (off the loop) by run_builder / run_remote once the build there ended, or here
    // when none ran.
    std::exception_ptr failure;
    try {
        co_await run_somewhere(job, *locks, *log, candidates);
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        if (!log_closed_) co_await close_log(*log, true);
        std::rethrow_exception(failure);
    }
    activity_->succeeded();
}

asio::awaitable<void> BuildGoal::run_somewhere(BuildJob& job, const StoreLocks& locks, BuildLog& log,
                                               const std::vector<size_t>& candidates) {
    auto& store = worker_.store();
    // A slot on a machine that can take it; when that is a remote machine that turns out to be down, the
    // build waits for a slot again (elsewhere, or on it once its back-off is over).
    for (;;) {
        MachineSlots::Slot slot;
        try {
            slot = co_await worker_.machine_slots().acquire(drv_, worker_.height(drv_), candidates);
        } catch (BuildError& e) {
            e.add_context(fmt::format("cannot build '{}'", store.print(drv_)));
            throw;
        }
        if (slot.machine() == 0) {
            co_await run_builder(job, locks, log);
            break;
        }
        if (co_await run_remote(job, locks, log, slot.machine())) break;
    }
}

asio::awaitable<void> BuildGoal::prepare_job(BuildJob& job, std::map<std::string, StorePath> outputs,
                                             bool check) {
    auto& store = worker_.store();
    StorePathSet inputs = job.drv->input_srcs;
    for (const auto& [input, wanted] : job.drv->input_drvs) {
        auto in = co_await worker_.load_derivation(input, this);
        for (const auto& o : wanted)
            inputs.insert(in->output_path(store.store_dir(), o));
    }
    auto layout = store.layout();
    job.real_store_dir = layout.real_store_dir;
    job.scratch_parent = layout.staging_dir;
    job.outputs = std::move(outputs);
    job.input_closure = co_await store.closure(inputs);
    job.env.store_dir = store.store_dir().dir();
    job.env.cores = worker_.options().cores;
    // The limits go with the job wherever it runs: the remote machines get them too.
    job.max_silent_time = worker_.options().max_silent_time;
    job.timeout = worker_.options().timeout;
    job.max_log_size = worker_.options().max_log_size;
    job.keep_failed = worker_.options().keep_failed;
    job.check = check;
    job.repair = check && mode_ == BuildMode::repair;
    job.pool = &worker_.pool();
}

void BuildGoal::build_failed(const BuildError& e, const BuildLog& log, bool fixed_output) {
    worker_.build_failures().record(e, true, fixed_output);
    auto tail = log.tail();
    if (!tail.empty())
        worker_.progress().message(
            fmt::format("last log lines of '{}':\n{}", worker_.store().print(drv_), tail));
}

asio::awaitable<void> BuildGoal::run_builder(BuildJob& job, const StoreLocks& locks, BuildLog& log) {
    auto& store = worker_.store();
    activity_->start();

    std::unique_ptr<BuiltOutputs> built;
    bool fixed_output = job.drv->is_fixed_output();
    std::exception_ptr failure;
    try {
        built = co_await worker_.builder()->build(job);
    } catch (BuildError& e) {
        build_failed(e, log, fixed_output);
        failure = std::current_exception();
    } catch (...) {
        failure = std::current_exception();
    }
    // The log's last batch and the end of its compressed stream are written off the loop, however the
    // build ended; a failed write fails a build that otherwise succeeded (it names the file and why).
    co_await close_log(log, failure != nullptr);
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
    log_closed_ = true;
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
