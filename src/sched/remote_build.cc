// BuildGoal::run_remote: a build on a remote machine, its slot held and the outputs' locks too. The
// machine says which inputs it has (with builders-use-substitutes it fetches the others from its
// caches first); the rest is copied once per machine (RemoteUploads); the build runs there with the
// job's limits and its log arriving in ours; the outputs it sends back (verified, staged) are made
// valid with the held locks. A machine that fails is marked down and the build looks for another slot;
// nothing of it is valid then.

#include <chrono>

#include "ferry/sched/build_log.hh"
#include "ferry/sched/worker.hh"
#include "goals.hh"
#include "machine_slots.hh"
#include "remote_uploads.hh"

namespace asio = boost::asio;

namespace ferry {

asio::awaitable<bool> BuildGoal::run_remote(BuildJob& job, const StoreLocks& locks, BuildLog& log,
                                            size_t machine) {
    auto& store = worker_.store();
    auto& remote = worker_.remote_machine(machine);
    bool fixed_output = job.drv->is_fixed_output();
    std::vector<StagedTree> trees;
    std::exception_ptr failure;
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    auto started = Clock::now(), building = started;
    try {
        auto have =
            co_await remote.query_valid(job.input_closure, worker_.options().builders_use_substitutes);
        worker_.machine_slots().mark_answering(machine);
        StorePathSet missing;
        for (const auto& p : job.input_closure)
            if (!have.count(p)) missing.insert(p);
        co_await worker_.uploads(machine).ensure(store, std::move(missing));
        activity_->start(remote.spec().uri);
        building = Clock::now();
        trees = co_await remote.build(job, store);
        // The protocol's cost per build (bench/remote): inputs queried and copied, build and outputs back.
        log_message(
            worker_.progress().bus(), Level::debug,
            fmt::format("remote build of '{}' on '{}': {:.2f} ms (inputs {:.2f} ms, build and outputs "
                        "{:.2f} ms)",
                        store.print(drv_), remote.spec().uri, ms(Clock::now() - started),
                        ms(building - started), ms(Clock::now() - building)));
    } catch (const MachineDown& e) {
        activity_->requeue();
        worker_.machine_down(machine, e.what());
        co_return false;
    } catch (BuildError& e) {
        worker_.machine_slots().mark_up(machine);
        build_failed(e, log, fixed_output);
        failure = std::current_exception();
    }
    // The build there ended: its log is finished off the loop (a write error fails it unless it failed).
    co_await close_log(log, failure != nullptr);
    if (failure) std::rethrow_exception(failure);
    worker_.machine_slots().mark_up(machine);
    try {
        co_await make_valid(store, std::move(trees), &locks);
        co_await store.register_derivation_outputs(drv_, job.outputs);
    } catch (BuildError& e) {
        worker_.build_failures().record(e, false, fixed_output);
        throw;
    }
    co_return true;
}

} // namespace ferry
