// The scheduler with fake substituters and builders: sharing, failures, fallback, interruption,
// discovery rounds and a large dry run.

#include "ferry/sched/worker.hh"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fake_store.hh"
#include "fakes.hh"
#include "ferry/store/derivation_store.hh"
#include "ferry/util/encoding.hh"
#include "support/store_support.hh"
#include "worker_fixture.hh"

namespace asio = boost::asio;
using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

TEST_F(WorkerTest, DiamondBuildsTheSharedDependencyOnce) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    auto c = add_test_derivation(*store.store, "c", {a});
    auto d = add_test_derivation(*store.store, "d", {b, c});
    Worker worker(io, pool, view, {}, &builder, options, progress);
    realise(worker, {out(d), out(b)});
    for (const char* n : {"a", "b", "c", "d"})
        EXPECT_EQ(builder.finished[n], 1) << n;
    EXPECT_LE(builder.peak_running, 2u);
    auto info = store->query_path_info(out_path(d));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->deriver, d);
    // The fake writes its input closure into each output, so d refers to b, c and (through them) a.
    EXPECT_EQ(info->references, (StorePathSet{out_path(a), out_path(b), out_path(c)}));
    EXPECT_EQ(progress.derived().builds_done, 4u);
    // A second realisation has nothing to do.
    Worker again(io, pool, view, {}, &builder, options, progress);
    realise(again, {out(d)});
    EXPECT_EQ(builder.finished["d"], 1);
}

TEST_F(WorkerTest, ParallelismIsBoundedByMaxJobs) {
    std::vector<StorePath> leaves;
    for (int i = 0; i < 12; ++i)
        leaves.push_back(add_test_derivation(*store.store, "leaf" + std::to_string(i), {}));
    auto top = add_test_derivation(*store.store, "top", leaves);
    options.max_jobs = 3;
    Worker worker(io, pool, view, {}, &builder, options, progress);
    realise(worker, {out(top)});
    EXPECT_EQ(builder.peak_running, 3u);
    EXPECT_TRUE(store->is_valid_path(out_path(top)));
}

TEST_F(WorkerTest, FailureWithoutKeepGoingStopsTheRestPromptly) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    auto c = add_test_derivation(*store.store, "c", {a});
    auto d = add_test_derivation(*store.store, "d", {b, c});
    auto e = add_test_derivation(*store.store, "e", {});
    builder.fail("b");
    builder.slow("c", 5s);
    builder.slow("e", 5s);
    options.max_jobs = 4;
    Worker worker(io, pool, view, {}, &builder, options, progress);
    auto start = std::chrono::steady_clock::now();
    try {
        realise(worker, {out(d), out(e)});
        FAIL() << "no error";
    } catch (const RealiseError& err) {
        EXPECT_NE(std::string(err.what()).find("builder for '" + store->print(b) + "' failed"),
                  std::string::npos)
            << err.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s) << "the slow builds were not cancelled";
    EXPECT_EQ(builder.cancelled["c"], 1);
    EXPECT_EQ(builder.cancelled["e"], 1);
    EXPECT_EQ(builder.started["d"], 0);
    EXPECT_FALSE(store->is_valid_path(out_path(c)));
    EXPECT_FALSE(store->is_valid_path(out_path(e)));
    EXPECT_TRUE(store.staging_leftovers().empty());
}

TEST_F(WorkerTest, KeepGoingBuildsEverythingThatDoesNotDependOnTheFailure) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    auto c = add_test_derivation(*store.store, "c", {a});
    auto d = add_test_derivation(*store.store, "d", {b, c});
    auto e = add_test_derivation(*store.store, "e", {});
    builder.fail("b");
    builder.slow("c", 200ms);
    options.keep_going = true;
    Worker worker(io, pool, view, {}, &builder, options, progress);
    EXPECT_THROW(realise(worker, {out(d), out(e)}), RealiseError);
    EXPECT_TRUE(store->is_valid_path(out_path(c)));
    EXPECT_TRUE(store->is_valid_path(out_path(e)));
    EXPECT_FALSE(store->is_valid_path(out_path(b)));
    EXPECT_FALSE(store->is_valid_path(out_path(d)));
    EXPECT_EQ(builder.started["d"], 0);
    EXPECT_EQ(progress.derived().failed, 2u); // b, and d (its dependency failed)
}

TEST_F(WorkerTest, SubstitutesAndFallsBackToBuilding) {
    auto a = add_test_derivation(*store.store, "a", {});
    auto b = add_test_derivation(*store.store, "b", {a});
    FakeSubstituter cache(store->store_dir());
    cache.add(out_path(a), {});
    cache.add(out_path(b), {out_path(a)});
    cache.fail_fetch(out_path(b));

    Worker no_fallback(io, pool, view, {&cache}, &builder, options, progress);
    try {
        realise(no_fallback, {out(b)});
        FAIL() << "no error";
    } catch (const RealiseError& err) {
        EXPECT_NE(std::string(err.what()).find("injected by the test"), std::string::npos) << err.what();
    }
    EXPECT_EQ(builder.started["b"], 0);

    options.fallback = true;
    Worker fallback(io, pool, view, {&cache}, &builder, options, progress);
    realise(fallback, {out(b)});
    EXPECT_EQ(builder.finished["b"], 1);
    EXPECT_EQ(builder.started["a"], 0) << "a was substituted";
    EXPECT_TRUE(store->is_valid_path(out_path(a)));
    EXPECT_TRUE(store->is_valid_path(out_path(b)));
}

TEST_F(WorkerTest, InterruptionLeavesTheStoreConsistentAndASecondRunFinishes) {
    std::vector<StorePath> drvs;
    for (int i = 0; i < 30; ++i) {
        std::vector<StorePath> inputs;
        if (i >= 3) inputs = {drvs[i - 3]};
        drvs.push_back(add_test_derivation(*store.store, "n" + std::to_string(i), inputs));
    }
    std::vector<Target> targets;
    for (const auto& d : drvs)
        targets.push_back(out(d));
    builder = FakeBuilder(50ms);
    {
        Worker worker(io, pool, view, {}, &builder, options, progress);
        asio::steady_timer stop(io, 180ms);
        stop.async_wait([&](auto) { worker.stop("interrupted by SIGINT"); });
        EXPECT_THROW(realise(worker, targets), Interrupted);
    }
    size_t valid = 0;
    for (const auto& d : drvs)
        valid += store->is_valid_path(out_path(d));
    EXPECT_GT(valid, 0u);
    EXPECT_LT(valid, drvs.size());
    EXPECT_TRUE(store.staging_leftovers().empty());
    // Every valid output's references are valid too.
    for (const auto& d : drvs) {
        if (auto info = store->query_path_info(out_path(d))) {
            for (const auto& r : info->references)
                EXPECT_TRUE(store->is_valid_path(r));
        }
    }

    Worker second(io, pool, view, {}, &builder, options, progress);
    realise(second, targets);
    for (const auto& d : drvs)
        EXPECT_TRUE(store->is_valid_path(out_path(d)));
}

TEST_F(WorkerTest, DiscoveryCostsDepthPlusOneRoundTrips) {
    // A closure of depth 5 with fan-out: level k holds 3k + 1 paths, each referring to all of level k+1.
    constexpr int kDepth = 5;
    constexpr auto kDelay = 100ms;
    FakeSubstituter cache(store->store_dir(), kDelay);
    std::vector<std::vector<StorePath>> levels(kDepth);
    for (int k = kDepth - 1; k >= 0; --k) {
        for (int i = 0; i < 3 * k + 1; ++i) {
            StorePath p(
                nix32_encode(compress_hash(hash_string(HashAlgo::sha256, std::to_string(k * 100 + i)), 20)) +
                "-p" + std::to_string(k) + "-" + std::to_string(i));
            StorePathSet refs;
            if (k + 1 < kDepth) refs = StorePathSet(levels[k + 1].begin(), levels[k + 1].end());
            cache.add(p, refs);
            levels[k].push_back(p);
        }
    }
    Worker worker(io, pool, view, {&cache}, nullptr, options, progress);
    auto missing = run(worker, [&](Worker& w) { return w.query_missing({Target{levels[0][0], {}}}); });
    EXPECT_EQ(missing.will_substitute.size(), 1u + 4 + 7 + 10 + 13);
    // Each level's queries go out together, one delay after the previous level's: no barrier, no
    // serial requests.
    int max_round = 0;
    for (const auto& [path, at] : cache.query_log) {
        int round = int(at / kDelay);
        int level = path.name()[1] - '0';
        EXPECT_EQ(round, level) << path.to_string();
        max_round = std::max(max_round, round);
    }
    EXPECT_EQ(max_round, kDepth - 1); // kDepth rounds of queries: d + 1 with the answer of the last
    EXPECT_EQ(cache.query_log.size(), missing.will_substitute.size()) << "each path asked once";

    // Realising fetches each path once, references before referrers.
    realise(worker, {Target{levels[0][0], {}}});
    EXPECT_EQ(cache.fetches, missing.will_substitute.size());
    EXPECT_TRUE(store->is_valid_path(levels[0][0]));
}

TEST_F(WorkerTest, DryRunOfTenThousandNodes) {
    // 10,000 derivations in 100 layers of 100; each depends on two of the layer below. The planning runs
    // over the map-backed store (no SQLite, no files): what it measures is the goal graph.
    FakeStore fake(pool);
    std::vector<StorePath> below;
    for (int layer = 0; layer < 100; ++layer) {
        std::vector<StorePath> current;
        for (int i = 0; i < 100; ++i) {
            std::vector<StorePath> inputs;
            if (!below.empty()) inputs = {below[i], below[(i + 37) % 100]};
            current.push_back(
                fake.add_derivation("l" + std::to_string(layer) + "-" + std::to_string(i), inputs));
        }
        below = std::move(current);
    }
    std::vector<Target> tops;
    for (const auto& d : below)
        tops.push_back(out(d));
    Worker worker(io, pool, fake, {}, &builder, options, progress);
    auto start = std::chrono::steady_clock::now();
    auto missing = run(worker, [&](Worker& w) { return w.query_missing(tops); });
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(missing.will_build.size(), 10000u);
    EXPECT_TRUE(missing.will_substitute.empty());
    EXPECT_TRUE(missing.unknown.empty());
    std::printf("planned 10,000 derivations in %.1f ms (fake store: no disk)\n",
                std::chrono::duration<double, std::milli>(took).count());
    EXPECT_EQ(builder.started.size(), 0u);
    EXPECT_TRUE(fake.committed().empty());
}
