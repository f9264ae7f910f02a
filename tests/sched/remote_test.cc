// Remote machines as build slots of the goal graph (FakeRemoteMachine over a second map-backed store):
// the choice of machine by system, features, mandatory features, load and speed; max-jobs 0; the
// critical path first; uploads once per machine and only what the machine lacks; a machine that dies
// mid-batch; the dry run naming the machines. Every run ends with its counters at N/N.

#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fake_remote.hh"
#include "fake_store.hh"
#include "fakes.hh"
#include "ferry/sched/worker.hh"
#include "support/events_check.hh"

namespace asio = boost::asio;
using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

namespace {

struct RemoteTest : ::testing::Test {
    asio::io_context io;
    asio::thread_pool pool{2};
    FakeStore store{pool};
    EventRecorder recorder; // before progress: it sees all of progress's events
    RecordingProgress progress;
    FakeBuilder builder{20ms};
    WorkerOptions options = [] {
        WorkerOptions o{.max_jobs = 1};
        o.platform.system = "x86_64-linux";
        o.platform.extra_platforms = {};
        o.platform.features = {};
        return o;
    }();

    template <typename Fn> auto run(Worker& worker, Fn fn) {
        auto fut = asio::co_spawn(io, fn(worker), asio::use_future);
        io.run();
        io.restart();
        return fut.get();
    }

    /// Realises the "out" outputs of `drvs`; the counters end settled however it ends.
    void realise(Worker& worker, const std::vector<StorePath>& drvs) {
        std::vector<Target> targets;
        for (const auto& d : drvs)
            targets.push_back(Target{d, {"out"}});
        auto settled = [&] {
            EXPECT_EQ(unsettled(recorder.counters()), "");
            EXPECT_EQ(unsettled(progress.derived()), "");
        };
        try {
            run(worker, [&](Worker& w) { return w.realise(targets); });
        } catch (...) {
            settled();
            throw;
        }
        settled();
    }

    /// A leaf derivation `name` for `system` requiring `features`.
    StorePath derivation(const std::string& name, const std::string& system = "x86_64-linux",
                         const std::string& features = "", const std::vector<StorePath>& inputs = {}) {
        auto drv = test_derivation(name, inputs);
        drv.platform = system;
        drv.env["system"] = system;
        if (!features.empty()) drv.env["requiredSystemFeatures"] = features;
        return store.add_derivation(std::move(drv));
    }

    std::string error_of(Worker& worker, const std::vector<StorePath>& drvs) {
        try {
            realise(worker, drvs);
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    }
};

size_t count(const std::vector<std::string>& names, const std::string& name) {
    return std::count(names.begin(), names.end(), name);
}

} // namespace

TEST_F(RemoteTest, MachineChosenBySystemAndFeatures) {
    FakeRemoteMachine kvm(pool, machine_spec("ssh://kvm", {"x86_64-linux"}, 2, 1, {"kvm"}));
    FakeRemoteMachine arm(pool, machine_spec("ssh://arm", {"aarch64-linux"}, 2));
    FakeRemoteMachine bench(pool, machine_spec("ssh://bench", {"x86_64-linux"}, 2, 1, {}, {"benchmark"}));
    options.machines = {&kvm, &arm, &bench};
    options.max_jobs = 4;
    auto on_arm = derivation("on-arm", "aarch64-linux");
    auto needs_kvm = derivation("needs-kvm", "x86_64-linux", "kvm");
    auto benchmark = derivation("benchmark", "x86_64-linux", "benchmark");
    auto both = derivation("both", "x86_64-linux", "benchmark kvm");
    auto plain = derivation("plain");
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, {on_arm, needs_kvm, benchmark, plain});
    EXPECT_EQ(arm.built, std::vector<std::string>{"on-arm"});
    EXPECT_EQ(kvm.built, std::vector<std::string>{"needs-kvm"});
    EXPECT_EQ(bench.built, std::vector<std::string>{"benchmark"}) << "its mandatory feature is required";
    // plain: this machine (idle, and first on a tie) or kvm, never bench (benchmark not required).
    EXPECT_EQ(builder.started["plain"] + count(kvm.built, "plain"), 1u);
    EXPECT_EQ(count(arm.started, "plain") + count(bench.started, "plain"), 0u);
    EXPECT_TRUE(store.valid(store.output_path(on_arm)));

    // Nobody supports both features of `both` at once (bench lacks kvm, kvm lacks the mandatory
    // benchmark... and supports no benchmark), and this machine has none: Nix's warning, then its error.
    Worker again(io, pool, store, {}, &builder, options, progress);
    auto error = error_of(again, {both});
    EXPECT_NE(error.find("a 'x86_64-linux' with features {benchmark, kvm} is required to build '" +
                         store.print(both) + "', but I am a 'x86_64-linux' with features {}"),
              std::string::npos)
        << error;
    ASSERT_FALSE(progress.messages.empty());
    EXPECT_TRUE(progress.messages.back().starts_with("warning: Failed to find a machine for remote build!\n"
                                                     "derivation: " +
                                                     both.to_string() +
                                                     "\nrequired (system, features): (x86_64-linux, "
                                                     "benchmark, kvm)\n3 available machines:"))
        << progress.messages.back();
}

TEST_F(RemoteTest, LowestLoadPerSpeedFirst) {
    // Both idle machines have 4 slots; fast is 4 times as fast. Five builds at once: fast, slow (its
    // load 0 < 1/4), then fast three times (3/4 < 1): 4 on fast, 1 on slow. By running builds alone
    // it would be 3 and 2.
    FakeRemoteMachine fast(pool, machine_spec("ssh://fast", {"x86_64-linux"}, 4, 4), 100ms);
    FakeRemoteMachine slow(pool, machine_spec("ssh://slow", {"x86_64-linux"}, 4, 1), 100ms);
    options.machines = {&fast, &slow};
    options.max_jobs = 0;
    std::vector<StorePath> drvs;
    for (int i = 0; i < 5; ++i)
        drvs.push_back(derivation("leaf" + std::to_string(i)));
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, drvs);
    EXPECT_EQ(fast.built.size(), 4u);
    EXPECT_EQ(slow.built.size(), 1u);
    EXPECT_EQ(fast.peak_running, 4u);
}

TEST_F(RemoteTest, LocalMachineCountsAsSpeedOne) {
    // This machine (2 slots, speed 1) and one of speed 3 with 3 slots, four builds at once: here (0 = 0,
    // a tie goes to this machine), there (0 < 1), there (1/3 < 1), there (2/3 < 1). By running builds
    // alone it would be 2 and 2.
    FakeRemoteMachine fast(pool, machine_spec("ssh://fast", {"x86_64-linux"}, 3, 3), 100ms);
    options.machines = {&fast};
    options.max_jobs = 2;
    std::vector<StorePath> drvs;
    for (int i = 0; i < 4; ++i) {
        drvs.push_back(derivation("leaf" + std::to_string(i)));
        builder.slow("leaf" + std::to_string(i), 100ms);
    }
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, drvs);
    EXPECT_EQ(fast.built.size(), 3u);
    EXPECT_EQ(builder.start_order.size(), 1u);
}

TEST_F(RemoteTest, MaxJobsZeroBuildsEverythingRemotely) {
    FakeRemoteMachine remote(pool, machine_spec("ssh://builder", {"x86_64-linux"}, 2));
    options.machines = {&remote};
    options.max_jobs = 0;
    options.max_silent_time = 7;
    options.timeout = 11;
    options.max_log_size = 4096;
    options.keep_failed = true;
    auto a = derivation("a");
    auto b = derivation("b", "x86_64-linux", "", {a});
    auto c = derivation("c", "x86_64-linux", "", {a, b});
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, {c});
    EXPECT_TRUE(builder.start_order.empty()) << "nothing built here";
    EXPECT_EQ(remote.built, (std::vector<std::string>{"a", "b", "c"}));
    for (const auto& d : {a, b, c})
        EXPECT_TRUE(store.valid(store.output_path(d)));
    ASSERT_EQ(remote.jobs.size(), 3u);
    const auto& job = remote.jobs.back();
    EXPECT_EQ(job.max_silent_time, 7u) << "the limits go with the job";
    EXPECT_EQ(job.timeout, 11u);
    EXPECT_EQ(job.max_log_size, 4096u);
    EXPECT_TRUE(job.keep_failed);
    // The remote log is the build's log: its lines are events of the build's activity.
    auto lines = recorder.lines(Level::info);
    EXPECT_NE(
        std::find(lines.begin(), lines.end(), "building '" + store.print(c) + "' on 'ssh://builder'..."),
        lines.end());
    bool logged = false;
    for (const auto& e : recorder.recorded())
        if (auto* r = std::get_if<ActivityResult>(&e);
            r && r->type == ResultType::build_log_line &&
            field_str(r->fields, 0) == "remote build of c on ssh://builder")
            logged = true;
    EXPECT_TRUE(logged);
}

TEST_F(RemoteTest, NowhereToBuild) {
    options.max_jobs = 0;
    auto a = derivation("a");
    Worker worker(io, pool, store, {}, &builder, options, progress);
    EXPECT_EQ(error_of(worker, {a}), "cannot build '" + store.print(a) +
                                         "': unable to start any build; either increase '--max-jobs' or "
                                         "enable remote builds");
    FakeRemoteMachine arm(pool, machine_spec("ssh://arm", {"aarch64-linux"}));
    options.machines = {&arm};
    Worker again(io, pool, store, {}, &builder, options, progress);
    EXPECT_EQ(error_of(again, {a}), "cannot build '" + store.print(a) +
                                        "': unable to start any build; remote machines may not have all "
                                        "required system features");
    EXPECT_TRUE(arm.contacts.empty());
}

TEST_F(RemoteTest, CriticalPathStartsFirst) {
    // One slot. `block` holds it while the rest becomes ready: the chain c1 <- c2 <- c3 <- top and the
    // leaves l1..l3 <- top. c1 (height 3) goes before the leaves (height 1), which are found first and
    // would go first in arrival order. (c2 is not waiting yet when c1's slot is given back.)
    auto block = derivation("block");
    auto c1 = derivation("c1");
    auto c2 = derivation("c2", "x86_64-linux", "", {c1});
    auto c3 = derivation("c3", "x86_64-linux", "", {c2});
    auto l1 = derivation("l1"), l2 = derivation("l2"), l3 = derivation("l3");
    auto top = derivation("top", "x86_64-linux", "", {l1, l2, l3, c3});
    builder.slow("block", 100ms);
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, {block, top});
    ASSERT_EQ(builder.start_order.size(), 8u);
    EXPECT_EQ(builder.start_order[0], "block");
    EXPECT_EQ(builder.start_order[1], "c1");
    EXPECT_EQ(builder.start_order.back(), "top");
}

namespace {

/// A made-up valid path `name` in `store`, referring to `references`.
StorePath valid_path(FakeStore& store, const std::string& name, const StorePathSet& references = {}) {
    auto path = store.store_dir().make_text_path(name, name, {});
    store.add_valid(path, references);
    return path;
}

} // namespace

TEST_F(RemoteTest, EachPathUploadedOncePerMachine) {
    // x and y need dep's output (valid here, referring to lib) at the same time, on the same machine;
    // the copy takes 50 ms, so the second build finds it under way.
    auto lib = valid_path(store, "lib");
    auto dep = derivation("dep");
    store.add_valid(store.output_path(dep), {lib});
    auto x = derivation("x", "x86_64-linux", "", {dep});
    auto y = derivation("y", "x86_64-linux", "", {dep});
    FakeRemoteMachine remote(pool, machine_spec("ssh://builder", {"x86_64-linux"}, 2));
    remote.set_upload_delay(50ms);
    options.machines = {&remote};
    options.max_jobs = 0;
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, {x, y});
    EXPECT_EQ(remote.uploaded, (std::vector<StorePath>{lib, store.output_path(dep)})) << "references first";
    EXPECT_EQ(remote.built.size(), 2u);
    EXPECT_EQ(remote.peak_running, 2u);
    EXPECT_EQ(remote.substitute_flags, (std::vector<bool>{false, false}));
}

TEST_F(RemoteTest, OnlyWhatTheMachineLacksIsUploaded) {
    auto lib = valid_path(store, "lib");
    auto dep = derivation("dep");
    store.add_valid(store.output_path(dep), {lib});
    auto x = derivation("x", "x86_64-linux", "", {dep});
    FakeRemoteMachine remote(pool, machine_spec("ssh://builder"));
    remote.store.add_valid(lib);
    options.machines = {&remote};
    options.max_jobs = 0;
    options.builders_use_substitutes = true;
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, {x});
    EXPECT_EQ(remote.uploaded, std::vector<StorePath>{store.output_path(dep)});
    EXPECT_EQ(remote.substitute_flags, std::vector<bool>{true}) << "builders-use-substitutes is passed on";
    EXPECT_EQ(remote.built, std::vector<std::string>{"x"});
}

TEST_F(RemoteTest, DeadMachineHandsItsBuildsBackAndIsLeftAloneDuringItsBackOff) {
    // `flaky` (2 slots) builds 2 derivations, then dies as the next builds end (at ~80 ms). Those go
    // back to wait for a slot and finish here; flaky is contacted again once its back-off (300 ms) is
    // over (a build waiting then tries it, fails, and it is down for 600 ms), and nothing it was building
    // is made valid through it. This machine alone needs ~720 ms for the rest.
    FakeRemoteMachine flaky(pool, machine_spec("ssh://flaky", {"x86_64-linux"}, 2), 40ms);
    flaky.die_after(2);
    options.machines = {&flaky};
    options.max_jobs = 1;
    options.machine_backoff = 300ms;
    options.machine_max_backoff = 600ms;
    options.machine_max_failures = 10;
    std::vector<StorePath> drvs;
    for (int i = 0; i < 12; ++i) {
        drvs.push_back(derivation("leaf" + std::to_string(i)));
        builder.slow("leaf" + std::to_string(i), 60ms);
    }
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, drvs);
    EXPECT_EQ(flaky.built.size(), 2u);
    EXPECT_EQ(flaky.built.size() + builder.start_order.size(), 12u) << "every build ran to its end once";
    for (const auto& d : drvs)
        EXPECT_TRUE(store.valid(store.output_path(d)));
    auto committed = store.committed();
    EXPECT_EQ(committed.size(), 12u) << "each output committed once, none of a dead build";
    // Contacts after a failure respect the back-off of that failure (the second failure doubles it).
    ASSERT_FALSE(flaky.failures.empty());
    auto first_failure = flaky.failures.front();
    for (auto t : flaky.contacts)
        if (t > first_failure) {
            EXPECT_GE(t - first_failure, 290ms) << "contacted during its back-off";
        }
    EXPECT_LE(flaky.failures.size(), 4u) << "not tried again for every derivation";
    bool warned = false;
    for (const auto& m : progress.messages)
        warned = warned ||
                 (m.starts_with("warning: machine 'ssh://flaky' is down, not trying it again for 300 ms: ") &&
                  m.find("closed while building") != std::string::npos);
    EXPECT_TRUE(warned);
    // The builds that moved say so: a build activity on flaky (ended, neither done nor failed), then
    // one here that is done.
    std::map<std::string, std::vector<std::string>> starts; // drv → machines, in order
    for (const auto& e : recorder.recorded())
        if (auto* a = std::get_if<ActivityStarted>(&e); a && a->type == ActivityType::build)
            starts[field_str(a->fields, 0)].push_back(field_str(a->fields, 1));
    size_t moved = 0;
    for (const auto& [drv, machines] : starts)
        if (machines.size() > 1) {
            ++moved;
            EXPECT_EQ(machines, (std::vector<std::string>{"ssh://flaky", ""})) << drv;
        }
    EXPECT_EQ(moved, 2u) << "the two builds flaky was running when it died";
}

TEST_F(RemoteTest, MachineBackFromItsBackOffIsTriedByOneBuildAtATime) {
    // `dead` (3 slots) never answers; many builds wait while this machine works through them. Each time
    // its back-off ends one build tries it, not three: its contacts are a back-off apart.
    FakeRemoteMachine dead(pool, machine_spec("ssh://dead", {"x86_64-linux"}, 3));
    dead.kill();
    options.machines = {&dead};
    options.max_jobs = 1;
    options.machine_backoff = 50ms;
    options.machine_max_backoff = 100ms;
    options.machine_max_failures = 10;
    std::vector<StorePath> drvs;
    for (int i = 0; i < 12; ++i) {
        drvs.push_back(derivation("leaf" + std::to_string(i)));
        builder.slow("leaf" + std::to_string(i), 30ms);
    }
    Worker worker(io, pool, store, {}, &builder, options, progress);
    realise(worker, drvs);
    EXPECT_EQ(builder.start_order.size(), 12u);
    ASSERT_GE(dead.contacts.size(), 3u) << "tried again after each back-off while builds wait";
    for (size_t i = 1; i < dead.contacts.size(); ++i)
        EXPECT_GE(dead.contacts[i] - dead.contacts[i - 1], 49ms) << "contact " << i;
}

TEST_F(RemoteTest, MachineThatNeverAnswersIsGivenUp) {
    // With max-jobs 0 and a dead machine, the builds fail once it has failed max_failures times in a
    // row (no endless retrying), each failure after the previous back-off.
    FakeRemoteMachine dead(pool, machine_spec("ssh://dead"));
    dead.kill();
    options.machines = {&dead};
    options.max_jobs = 0;
    options.machine_backoff = 20ms;
    options.machine_max_backoff = 40ms;
    options.machine_max_failures = 3;
    auto a = derivation("a");
    Worker worker(io, pool, store, {}, &builder, options, progress);
    auto error = error_of(worker, {a});
    EXPECT_NE(error.find("no machine can build it any more: 'ssh://dead' failed 3 times in a row"),
              std::string::npos)
        << error;
    ASSERT_EQ(dead.contacts.size(), 3u);
    EXPECT_GE(dead.contacts[1] - dead.contacts[0], 19ms);
    EXPECT_GE(dead.contacts[2] - dead.contacts[1], 39ms);
    EXPECT_FALSE(store.valid(store.output_path(a)));
}

TEST_F(RemoteTest, DryRunNamesTheMachines) {
    FakeRemoteMachine arm(pool, machine_spec("ssh://arm", {"aarch64-linux"}));
    FakeRemoteMachine x86(pool, machine_spec("ssh://x86", {"x86_64-linux"}, 4));
    options.machines = {&arm, &x86};
    auto on_arm = derivation("on-arm", "aarch64-linux");
    auto plain = derivation("plain");
    auto kvm = derivation("kvm", "x86_64-linux", "kvm");
    Worker worker(io, pool, store, {}, &builder, options, progress);
    std::vector<Target> targets{{on_arm, {"out"}}, {plain, {"out"}}, {kvm, {"out"}}};
    auto missing = run(worker, [&](Worker& w) { return w.query_missing(targets); });
    EXPECT_EQ(missing.will_build, (StorePathSet{on_arm, plain, kvm}));
    EXPECT_EQ(missing.build_machines[on_arm], "ssh://arm");
    EXPECT_EQ(missing.build_machines[plain], "local, ssh://x86");
    EXPECT_FALSE(missing.build_machines.count(kvm)) << "nobody can: listed to be built, with no machine";
    EXPECT_TRUE(arm.contacts.empty() && x86.contacts.empty()) << "a dry run contacts no machine";

    options.max_jobs = 0;
    Worker remote_only(io, pool, store, {}, &builder, options, progress);
    missing = run(remote_only, [&](Worker& w) { return w.query_missing(targets); });
    EXPECT_EQ(missing.build_machines[plain], "ssh://x86");
}
