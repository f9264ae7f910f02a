#pragma once
// The scheduler's test fixture with a real store (the tests of goals against a map-backed store use
// fake_store.hh): a temporary store, an io_context with a thread pool, a fake builder, and
// shortcuts to run a worker and to name derivation outputs.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fakes.hh"
#include "ferry/sched/local_store_view.hh"
#include "ferry/sched/worker.hh"
#include "ferry/store/derivation_store.hh"
#include "support/events_check.hh"
#include "support/store_support.hh"

namespace ferry::test {

struct WorkerTest : ::testing::Test {
    TempStore store;
    boost::asio::io_context io;
    boost::asio::thread_pool pool{2};
    /// What the workers of these tests see of `store`.
    LocalStoreView view{*store.store, pool};
    EventRecorder recorder; // before progress: it sees all of progress's events
    Progress progress;
    FakeBuilder builder;
    WorkerOptions options{.max_jobs = 2};

    /// Runs `fn(worker)` on the io_context until it completes; rethrows what it throws.
    template <typename Fn> auto run(Worker& worker, Fn fn) {
        auto fut = boost::asio::co_spawn(io, fn(worker), boost::asio::use_future);
        io.run();
        io.restart();
        return fut.get();
    }

    /// Realises `targets`; then, however it ended, the progress line's counters are at N/N.
    void realise(Worker& worker, std::vector<Target> targets) {
        try {
            run(worker, [&](Worker& w) { return w.realise(targets); });
        } catch (...) {
            expect_settled(worker.progress());
            throw;
        }
        expect_settled(worker.progress());
    }

    /// The counters derived from the events so far are settled (N/N, nothing running) once the run is
    /// over.
    void expect_settled(Progress& used) {
        EXPECT_EQ(unsettled(recorder.counters()), "");
        EXPECT_EQ(unsettled(used.derived()), "");
    }

    Target out(const StorePath& drv) { return Target{drv, {"out"}}; }
    StorePath out_path(const StorePath& drv, const std::string& o = "out") {
        return read_derivation(*store.store, drv).output_path(store->store_dir(), o);
    }
};

} // namespace ferry::test
