// Stopping the worker at any moment: every task, and the pool work it awaits, is over when realise() or
// close() returns, so the worker and what it uses may go at once. (Run under ASan and TSan too: an
// earlier worker let a cancellation run on a pool thread after the frame it pointed into had gone, and
// freed its task list under completions still to come.)

#include <boost/asio/steady_timer.hpp>

#include "support/run.hh"
#include "support/store_check.hh"
#include "worker_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

namespace {

StorePath cache_path(const std::string& name) {
    return StoreDir().make_store_path("output:out", hash_string(HashAlgo::sha256, name), name);
}

} // namespace

TEST_F(WorkerTest, StopAtManyMomentsLeavesNothingRunning) {
    builder = FakeBuilder(3ms);
    options.max_jobs = 3;
    int interrupted = 0;
    for (int round = 0; round < 25; ++round) {
        auto tag = "r" + std::to_string(round) + "-";
        // Builds three levels deep, and a closure to substitute.
        std::vector<StorePath> drvs;
        for (int i = 0; i < 12; ++i) {
            std::vector<StorePath> inputs;
            if (i >= 4) inputs = {drvs[i - 4], drvs[(i - 3) % 4]};
            drvs.push_back(add_test_derivation(*store.store, tag + std::to_string(i), inputs));
        }
        FakeSubstituter cache(store->store_dir(), 2ms);
        std::vector<Target> targets;
        StorePathSet below;
        for (int i = 0; i < 12; ++i) {
            auto p = cache_path(tag + "sub-" + std::to_string(i));
            cache.add(p, below);
            below = {p};
            targets.push_back(Target{p, {}});
        }
        for (const auto& d : drvs)
            targets.push_back(out(d));

        auto worker = std::make_unique<Worker>(io, pool, view, std::vector<Substituter*>{&cache}, &builder,
                                               options, progress);
        boost::asio::steady_timer timer(io, std::chrono::milliseconds(round * 2));
        timer.async_wait([&](auto ec) {
            if (!ec) worker->stop("interrupted by SIGINT");
        });
        try {
            realise(*worker, targets);
        } catch (const Interrupted&) {
            ++interrupted;
        }
        timer.cancel();
        worker.reset();
        // Nothing may be left that uses the worker. (poll() of an idle io_context stops it: restart after.)
        io.restart();
        io.poll();
        io.restart();
        for (const auto& p : store_problems(store.config))
            ADD_FAILURE() << "round " << round << ": " << p;
    }
    EXPECT_GT(interrupted, 10);
    std::printf("%d of 25 rounds interrupted\n", interrupted);
}

TEST_F(WorkerTest, CloseCancelsAndWaitsForWhatABodyLeftRunning) {
    auto slow = add_test_derivation(*store.store, "slow", {});
    builder.slow("slow", 5s);
    auto worker =
        std::make_unique<Worker>(io, pool, view, std::vector<Substituter*>{}, &builder, options, progress);
    auto start = std::chrono::steady_clock::now();
    run(*worker, [&](Worker& w) -> boost::asio::awaitable<void> {
        auto goal = w.output_goal(slow, "out");
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 50ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
        // A body that gives up here (it threw, say) must still not leave its goals running.
        co_await w.close();
        EXPECT_TRUE(goal->done());
    });
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_EQ(builder.cancelled["slow"], 1);
    worker.reset();
    io.restart();
    EXPECT_EQ(io.poll(), 0u);
    io.restart();
    EXPECT_TRUE(store.staging_leftovers().empty());
}

TEST_F(WorkerTest, StoppedBeforeRealiseEndsAtOnce) {
    // A signal that came before the work began: every task is cancelled before it starts, and what
    // realise() waits for itself (loading a derivation that must be asked for) must still end.
    FakeSubstituter cache(store->store_dir(), 10ms);
    StorePath missing = cache_path("not-here.drv");
    auto built = add_test_derivation(*store.store, "never", {});
    Worker worker(io, pool, view, {&cache}, &builder, options, progress);
    worker.stop("interrupted by SIGINT");
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(run_task(io, worker.realise({Target{missing, {}}, out(built)}), 5s), Interrupted);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_TRUE(builder.started.empty());
    EXPECT_THROW(run_task(io, worker.query_missing({Target{missing, {}}}), 5s), Interrupted);
}
