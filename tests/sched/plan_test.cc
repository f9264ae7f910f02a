// The goal graph over the map-backed store (fake_store.hh): no SQLite, no files, no processes. Planning
// time of large graphs, the dry run taking the real run's decisions, the loop staying responsive while
// a slow store answers, and the progress counters ending balanced.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fake_store.hh"
#include "fakes.hh"
#include "ferry/sched/worker.hh"
#include "ferry/util/encoding.hh"

namespace asio = boost::asio;
using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

namespace {

/// A made-up store path called `name`.
StorePath made_up_path(const std::string& name) {
    return StorePath(nix32_encode(compress_hash(hash_string(HashAlgo::sha256, name), 20)) + "-" + name);
}

struct PlanTest : ::testing::Test {
    asio::io_context io;
    asio::thread_pool pool{2};
    FakeStore store{pool};
    Progress progress;
    FakeBuilder builder{0ms};
    WorkerOptions options{.max_jobs = 2};

    template <typename Fn> auto run(Worker& worker, Fn fn) {
        auto fut = asio::co_spawn(io, fn(worker), asio::use_future);
        io.run();
        io.restart();
        return fut.get();
    }

    /// `layers` layers of `width` derivations; each depends on two of the layer below. Returns the top
    /// layer.
    std::vector<StorePath> layered_graph(FakeStore& s, int layers, int width) {
        std::vector<StorePath> below;
        for (int layer = 0; layer < layers; ++layer) {
            std::vector<StorePath> current;
            for (int i = 0; i < width; ++i) {
                std::vector<StorePath> inputs;
                if (!below.empty()) inputs = {below[i], below[(i + 37) % width]};
                current.push_back(
                    s.add_derivation("l" + std::to_string(layer) + "-" + std::to_string(i), inputs));
            }
            below = std::move(current);
        }
        return below;
    }

    /// A dry run of every output of `tops`; prints and returns the planning time.
    MissingPaths plan(const std::vector<StorePath>& tops, const char* what) {
        std::vector<Target> targets;
        for (const auto& d : tops)
            targets.push_back(Target{d, {"out"}});
        Worker worker(io, pool, store, {}, &builder, options, progress);
        auto start = std::chrono::steady_clock::now();
        auto missing = run(worker, [&](Worker& w) { return w.query_missing(targets); });
        auto took = std::chrono::steady_clock::now() - start;
        std::printf("planned %s derivations in %.1f ms (fake store: no disk)\n", what,
                    std::chrono::duration<double, std::milli>(took).count());
        return missing;
    }
};

} // namespace

TEST_F(PlanTest, HundredThousandNodes) {
    // 100 layers of 1,000 (the ten-thousand-node dry run's depth, ten times its width).
    auto tops = layered_graph(store, 100, 1000);
    auto missing = plan(tops, "100,000");
    EXPECT_EQ(missing.will_build.size(), 100000u);
    EXPECT_TRUE(missing.will_substitute.empty());
    EXPECT_TRUE(missing.unknown.empty());
    EXPECT_EQ(builder.started.size(), 0u);
    EXPECT_TRUE(store.committed().empty());
}

namespace {

/// What a run decided: derivations built (or checked), paths substituted.
struct Decisions {
    StorePathSet built, substituted, unknown;
    friend bool operator==(const Decisions&, const Decisions&) = default;
};

std::string show(const StoreDir& dir, const StorePathSet& set) {
    std::string out;
    for (const auto& p : set)
        out += " " + dir.print(p);
    return out;
}

} // namespace

TEST_F(PlanTest, DryRunAndRealRunTakeTheSameDecisions) {
    // valid: its output is valid already. subst: its output is in the cache, with a reference (dep)
    // that is only in the cache. build: no cache has its output; it needs subst, valid and a source
    // path src from the cache. checked: its output is valid, and it is a --check target over all that.
    // gone: an input source nobody has (the dry run lists it unknown; the real run fails on it), only
    // in the second graph.
    auto valid = store.add_derivation("valid", {});
    store.add_valid(store.output_path(valid));
    auto subst = store.add_derivation("subst", {});
    auto build = store.add_derivation("build", {subst, valid});
    auto checked = store.add_derivation("checked", {build});
    store.add_valid(store.output_path(checked));
    FakeSubstituter cache(store.store_dir());
    StorePath dep = made_up_path("dep");
    cache.add(dep, {});
    cache.add(store.output_path(subst), {dep});

    for (auto mode : {BuildMode::normal, BuildMode::check}) {
        SCOPED_TRACE(mode == BuildMode::check ? "check" : "normal");
        std::vector<Target> targets{Target{checked, {"out"}}, Target{build, {"out"}}};
        Worker worker(io, pool, store, {&cache}, &builder, options, progress);
        auto missing = run(worker, [&](Worker& w) { return w.query_missing(targets, mode); });
        Decisions dry{missing.will_build, missing.will_substitute, missing.unknown};

        auto committed_before = store.committed().size();
        auto checked_before = store.checked().size();
        builder.started.clear();
        auto realised = run(worker, [&](Worker& w) { return w.realise(targets, mode); });
        Decisions real;
        for (const auto& [name, n] : builder.started) {
            // The builder knows derivations by name; map back.
            for (const auto& d : {valid, subst, build, checked})
                if (std::string(d.name()) == name + ".drv" && n > 0) real.built.insert(d);
        }
        auto committed = store.committed();
        for (size_t i = committed_before; i < committed.size(); ++i)
            if (!builder.started.count(std::string(committed[i].name())))
                real.substituted.insert(committed[i]);
        // Outputs made valid by builds are not substitutions.
        for (const auto& d : real.built)
            real.substituted.erase(store.output_path(d));

        EXPECT_EQ(dry, real) << "dry: built" << show(store.store_dir(), dry.built) << "; substituted"
                             << show(store.store_dir(), dry.substituted) << "\nreal: built"
                             << show(store.store_dir(), real.built) << "; substituted"
                             << show(store.store_dir(), real.substituted);
        if (mode == BuildMode::normal) {
            // First run: subst and dep come from the cache, build is built, checked is valid already.
            EXPECT_EQ(dry.built, (StorePathSet{build}));
            EXPECT_EQ(dry.substituted, (StorePathSet{dep, store.output_path(subst)}));
        } else {
            // Now everything is valid: --check rebuilds the target only (and compares).
            EXPECT_EQ(dry.built, (StorePathSet{checked, build}));
            EXPECT_TRUE(dry.substituted.empty());
            EXPECT_EQ(store.checked().size(), checked_before + 2);
        }
        ASSERT_EQ(realised.size(), 2u);
        EXPECT_EQ(realised[0].at("out"), store.output_path(checked));
        EXPECT_EQ(realised[1].at("out"), store.output_path(build));
    }

    // Unsubstitutable and not buildable: the dry run lists it unknown; the real run fails on it.
    StorePath gone = made_up_path("gone");
    Worker worker(io, pool, store, {&cache}, &builder, options, progress);
    auto missing = run(worker, [&](Worker& w) { return w.query_missing({Target{gone, {}}}); });
    EXPECT_EQ(missing.unknown, (StorePathSet{gone}));
    EXPECT_THROW(run(worker, [&](Worker& w) { return w.realise({Target{gone, {}}}); }), RealiseError);
}

TEST_F(PlanTest, LoopStaysResponsiveWhileASlowStoreAnswers) {
    // Every store call sleeps 100 ms on the pool. A watchdog timer on the loop measures how late it
    // fires: a store call run on the loop thread would make it at least 100 ms late. The bound leaves
    // room for a loaded 2-core machine's scheduling (up to ~10 ms seen here).
    FakeStore slow(pool, 100ms);
    auto a = slow.add_derivation("a", {});
    auto b = slow.add_derivation("b", {a});
    auto c = slow.add_derivation("c", {a});
    auto d = slow.add_derivation("d", {b, c});
    FakeSubstituter cache(slow.store_dir());
    cache.add(slow.output_path(a), {});
    Worker worker(io, pool, slow, {&cache}, &builder, options, progress);

    std::chrono::steady_clock::duration worst{};
    size_t ticks = 0;
    bool done = false;
    asio::steady_timer watchdog(io);
    std::function<void()> arm = [&] {
        auto due = std::chrono::steady_clock::now() + 2ms;
        watchdog.expires_at(due);
        watchdog.async_wait([&, due](boost::system::error_code ec) {
            if (ec || done) return;
            worst = std::max(worst, std::chrono::steady_clock::now() - due);
            ++ticks;
            arm();
        });
    };
    arm();
    auto start = std::chrono::steady_clock::now();
    std::vector<Target> targets{Target{d, {"out"}}};
    auto task = [&](Worker& w) -> asio::awaitable<std::vector<RealisedOutputs>> {
        auto out = co_await w.realise(targets);
        done = true;
        watchdog.cancel();
        co_return out;
    };
    run(worker, task);
    auto took = std::chrono::steady_clock::now() - start;
    auto worst_ms = std::chrono::duration<double, std::milli>(worst).count();
    std::printf(
        "realise with a 100 ms store: %.0f ms, %zu store calls, %zu watchdog ticks, worst lateness %.2f ms\n",
        std::chrono::duration<double, std::milli>(took).count(), slow.calls(), ticks, worst_ms);
    EXPECT_TRUE(slow.valid(slow.output_path(d)));
    EXPECT_GE(slow.calls(), 10u);
    EXPECT_GE(took, 500ms) << "the store was not slow";
    EXPECT_GE(ticks, 100u);
    EXPECT_LT(worst_ms, 50.0) << "something blocked the loop thread";
}

TEST_F(PlanTest, CountersEndBalancedAndEachDerivationIsReadOnce) {
    auto a = store.add_derivation("a", {});
    auto b = store.add_derivation("b", {a});
    auto c = store.add_derivation("c", {a});
    auto d = store.add_derivation("d", {b, c});
    Worker worker(io, pool, store, {}, &builder, options, progress);
    auto realised = run(worker, [&](Worker& w) { return w.realise({Target{d, {}}, Target{b, {"out"}}}); });
    EXPECT_EQ(progress.derived().builds_expected, 4u);
    EXPECT_EQ(progress.derived().builds_done, 4u);
    EXPECT_EQ(progress.derived().builds_running, 0u);
    for (const auto& drv : {a, b, c, d})
        EXPECT_EQ(store.reads()[drv], 1) << drv.to_string();
    ASSERT_EQ(realised.size(), 2u);
    EXPECT_EQ(realised[0], (RealisedOutputs{{"out", store.output_path(d)}}));
    EXPECT_EQ(realised[1], (RealisedOutputs{{"out", store.output_path(b)}}));
}

TEST_F(PlanTest, BuildWhoseOutputsAnotherProcessMadeValidIsNotCountedAndHoldsNoSlot) {
    // Another process holds the output's lock and makes it valid meanwhile. The build waits for the
    // lock without a build slot (the other build, e, runs), then finds nothing to do: the counters end
    // at what was built.
    auto x = store.add_derivation("x", {});
    auto e = store.add_derivation("e", {});
    options.max_jobs = 1;
    Worker worker(io, pool, store, {}, &builder, options, progress);
    std::vector<Target> targets{Target{x, {"out"}}, Target{e, {"out"}}};
    auto body = [&](Worker& w) -> asio::awaitable<std::vector<RealisedOutputs>> {
        StorePathSet outputs;
        outputs.insert(store.output_path(x));
        auto held = co_await store.try_lock(outputs);
        asio::steady_timer timer(io, 150ms);
        timer.async_wait([&](boost::system::error_code) {
            store.add_valid(store.output_path(x));
            held.reset();
        });
        auto out = co_await w.realise(targets);
        co_return out;
    };
    run(worker, body);
    EXPECT_EQ(builder.started["x"], 0);
    EXPECT_EQ(builder.finished["e"], 1);
    EXPECT_EQ(progress.derived().builds_expected, progress.derived().builds_done);
    EXPECT_EQ(progress.derived().builds_done, 1u);
}
