// The progress counters derived from events: the activity handles cannot leave them drifting, the
// older counter bumps are bridged, and every kind of realise ends at N/N.

#include "ferry/sched/progress.hh"

#include <gtest/gtest.h>

#include "fakes.hh"
#include "support/events_check.hh"
#include "worker_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

namespace {

struct ProgressApi : ::testing::Test {
    EventBus bus;
    EventRecorder recorder{bus};
    Progress progress{bus};
};

std::string built(const ProgressCounters& c) {
    return fmt::format("{}/{} built", c.builds_done, c.builds_expected);
}

} // namespace

TEST_F(ProgressApi, AWantedBuildThatTurnsOutValidLeavesNothingExpected) {
    {
        auto want = progress.want_build("/nix/store/x-a.drv");
        EXPECT_EQ(progress.derived().builds_expected, 1u);
        EXPECT_EQ(built(progress.derived()), "0/1 built");
        // The goal returns early (the outputs became valid while it waited): no balancing call needed.
    }
    auto c = progress.derived();
    EXPECT_EQ(c.builds_expected, 0u);
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(unsettled(recorder.counters()), "");
}

TEST_F(ProgressApi, BuildsCountAsRunningThenDoneOrFailed) {
    auto ok = progress.want_build("/nix/store/x-ok.drv");
    auto bad = progress.start_build("/nix/store/x-bad.drv");
    ok.start();
    auto c = progress.derived();
    EXPECT_EQ(c.builds_running, 2u);
    EXPECT_EQ(c.builds_expected, 2u);
    ok.succeeded();
    bad.failed();
    c = progress.derived();
    EXPECT_EQ(c.builds_done, 1u);
    EXPECT_EQ(c.builds_running, 0u);
    EXPECT_EQ(c.failed, 1u);
    EXPECT_EQ(c.builds_expected, 1u) << "a failed build is no longer expected";
    { BuildActivity gone = std::move(ok); }
    bad = BuildActivity();
    progress.build_failed("/nix/store/x-refused.drv"); // no handle: refused before it was wanted
    EXPECT_EQ(progress.derived().failed, 2u);
    EXPECT_EQ(unsettled(progress.derived()), "");
    EXPECT_EQ(recorder.started(ActivityType::build), 2u);
    EXPECT_EQ(recorder.live(), 0u) << "every activity ended with its handle";
}

TEST_F(ProgressApi, BuildLogLinesAreResultsOfTheBuildsActivity) {
    auto b = progress.start_build("/nix/store/x-a.drv");
    b.log("one\ntw");
    b.log("o\n");
    std::vector<std::string> lines;
    ActivityId build_id = 0;
    for (const auto& e : recorder.recorded()) {
        if (const auto* s = std::get_if<ActivityStarted>(&e); s && s->type == ActivityType::build) {
            build_id = s->id;
            EXPECT_EQ(field_str(s->fields, 0), "/nix/store/x-a.drv");
        }
        if (const auto* r = std::get_if<ActivityResult>(&e); r && r->type == ResultType::build_log_line) {
            EXPECT_EQ(r->id, build_id);
            lines.push_back(field_str(r->fields, 0));
        }
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(recorder.lines(Level::info), (std::vector<std::string>{"building '/nix/store/x-a.drv'..."}));
}

TEST_F(ProgressApi, ASubstituteRetriedFromAnotherCacheCountsOnceWithTheBytesOfTheGoodCopy) {
    {
        auto s = progress.want_substitute("/nix/store/x-p");
        s.begin_copy("http://first", 1000);
        s.downloaded(300);
        auto c = progress.derived();
        EXPECT_EQ(c.fetches_running, 1u);
        EXPECT_EQ(c.fetches_expected, 1u);
        EXPECT_EQ(c.download_expected, 1000u);
        s.end_copy(true);
        s.begin_copy("http://second", 500);
        s.downloaded(500);
        s.succeeded();
    }
    auto c = progress.derived();
    EXPECT_EQ(c.fetches_done, 1u);
    EXPECT_EQ(c.fetches_expected, 1u);
    EXPECT_EQ(c.download_expected, 500u) << "the failed copy's bytes are not expected any more";
    EXPECT_EQ(c.download_bytes, 800u) << "but they were received";
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(recorder.lines(Level::info),
              (std::vector<std::string>{"copied path '/nix/store/x-p' from 'http://second'"}));
    EXPECT_EQ(recorder.lines(Level::talkative).size(), 3u) << "and the two 'copying path' lines at -v";
}

TEST_F(ProgressApi, MessagesKeepTheirLevelByForm) {
    progress.message("warning: w");
    progress.message("last log lines of 'x':\ny");
    progress.message("copied path 'p' from 'c'");
    EXPECT_EQ(recorder.lines(Level::error), (std::vector<std::string>{"last log lines of 'x':\ny"}));
    EXPECT_EQ(recorder.lines(Level::warn).size(), 2u);
    EXPECT_EQ(recorder.lines(Level::info).size(), 3u);
}

// ---- Realises: the fixture's realise() checks N/N after each; these check the counts too, where the
// run took the goals' normal paths.

TEST_F(WorkerTest, BuildOnlyRealiseEndsAtNOfN) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    Worker worker(io, pool, view, {}, &builder, options, progress);
    run(worker, [&](Worker& w) { return w.realise({out(b)}); });
    auto c = recorder.counters();
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.builds_done, 2u);
    EXPECT_EQ(c.fetches_expected, 0u);
    EXPECT_EQ(recorder.started(ActivityType::build), 2u);
}

TEST_F(WorkerTest, SubstitutionOnlyRealiseEndsAtNOfN) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    FakeSubstituter cache(store->store_dir());
    cache.add(out_path(a), {});
    cache.add(out_path(b), {out_path(a)});
    Worker worker(io, pool, view, {&cache}, &builder, options, progress);
    run(worker, [&](Worker& w) { return w.realise({out(b)}); });
    auto c = recorder.counters();
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.fetches_done, 2u);
    EXPECT_EQ(c.builds_expected, 0u);
    EXPECT_GT(c.download_bytes, 0u);
    EXPECT_EQ(c.download_bytes, c.download_expected);
}

TEST_F(WorkerTest, MixedRealiseEndsAtNOfN) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    FakeSubstituter cache(store->store_dir());
    cache.add(out_path(a), {});
    Worker worker(io, pool, view, {&cache}, &builder, options, progress);
    realise(worker, {out(b)});
    auto c = recorder.counters();
    EXPECT_EQ(c.fetches_done, 1u);
    EXPECT_EQ(c.builds_done, 1u);
    EXPECT_EQ(builder.started["a"], 0);
}

TEST_F(WorkerTest, FailingBuildWithKeepGoingEndsAtNOfNWithItsFailures) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    auto c = add_test_derivation(*store.store, "c", {b});
    auto e = add_test_derivation(*store.store, "e", {});
    builder.fail("b");
    options.keep_going = true;
    Worker worker(io, pool, view, {}, &builder, options, progress);
    EXPECT_THROW(run(worker, [&](Worker& w) { return w.realise({out(c), out(e)}); }), RealiseError);
    auto counts = recorder.counters();
    EXPECT_EQ(unsettled(counts), "");
    EXPECT_EQ(counts.builds_done, 2u); // a, e
    EXPECT_EQ(counts.failed, 2u);      // b, and c (its dependency failed)
    EXPECT_EQ(built(counts), "2/2 built");
}

TEST_F(WorkerTest, DryRunStartsNoActivityAndStaysAtZero) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    FakeSubstituter cache(store->store_dir());
    cache.add(out_path(a), {});
    Worker worker(io, pool, view, {&cache}, &builder, options, progress);
    auto missing = run(worker, [&](Worker& w) { return w.query_missing({out(b)}); });
    EXPECT_EQ(missing.will_build.size(), 1u);
    EXPECT_EQ(missing.will_substitute.size(), 1u);
    auto c = recorder.counters();
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.builds_expected + c.fetches_expected, 0u);
    EXPECT_EQ(recorder.started(ActivityType::build) + recorder.started(ActivityType::substitute), 0u);
}
