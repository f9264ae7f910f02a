// Graphs the worker cannot realise as asked are errors, at once, never hangs or crashes: a `.drv` that
// is not valid, reference cycles among narinfos and among derivations, derivations for another platform.
// And a substituter whose copy fails is followed by the next one that has the path.

#include <boost/asio/steady_timer.hpp>
#include <gmock/gmock.h>

#include "ferry/sched/cycle.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/encoding.hh"
#include "worker_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
using testing::HasSubstr;

namespace {

/// A made-up store path called `name`.
StorePath made_up_path(const std::string& name) {
    return StorePath(nix32_encode(compress_hash(hash_string(HashAlgo::sha256, name), 20)) + "-" + name);
}

std::string message_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

/// Registers two derivations, each an input of the other, at made-up paths: a real `.drv`'s path is
/// the hash of its text, so Nix never makes such a pair, but a store or a cache can claim one.
std::pair<StorePath, StorePath> add_derivation_cycle(LocalStore& store) {
    StorePath a = made_up_path("cyc-a.drv"), b = made_up_path("cyc-b.drv");
    std::vector<ValidPathInfo> infos;
    for (auto [self, other] : {std::pair{a, b}, std::pair{b, a}}) {
        Derivation drv;
        std::string name(self.name().substr(0, self.name().size() - 4));
        drv.name = name;
        drv.outputs["out"] = DerivationOutput{store.print(made_up_path(name)), "", ""};
        drv.input_drvs[other] = {"out"};
        drv.platform = "x86_64-linux";
        drv.builder = "/bin/sh";
        drv.env = {{"name", name}, {"out", drv.outputs["out"].path}};
        write_file_atomic(store.real_path(self), unparse_derivation(store.store_dir(), drv));
        auto hashed = hash_path(HashAlgo::sha256, store.real_path(self));
        ValidPathInfo info(self, hashed.hash, hashed.nar_size);
        info.references = {other};
        infos.push_back(info);
    }
    store.register_valid_paths(infos);
    return {a, b};
}

} // namespace

TEST_F(WorkerTest, DerivationThatIsNotValidIsAnError) {
    StorePath missing = made_up_path("missing.drv");
    Worker worker(io, pool, view, {}, &builder, options, progress);
    for (const auto& target : {Target{missing, {}}, Target{missing, {"out"}}}) {
        auto message = message_of([&] { realise(worker, {target}); });
        EXPECT_EQ(message, "cannot build missing derivation '" + store->print(missing) +
                               "': it is not valid, and no substituter has it");
    }
    // Beside a target that builds: without keep-going it is stopped, and the worker is left clean.
    auto ok = add_test_derivation(*store.store, "ok", {});
    builder.slow("ok", 2s);
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(realise(worker, {out(ok), Target{missing, {}}}), RealiseError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_TRUE(store.staging_leftovers().empty());
}

TEST_F(WorkerTest, NarinfoCycleFailsAtOnce) {
    FakeSubstituter cache(store->store_dir());
    StorePath a = made_up_path("a"), b = made_up_path("b"), c = made_up_path("c");
    cache.add(a, {b});
    cache.add(b, {c});
    cache.add(c, {a});
    Worker worker(io, pool, view, {&cache}, nullptr, options, progress);
    auto start = std::chrono::steady_clock::now();
    auto message = message_of([&] { realise(worker, {Target{a, {}}}); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_THAT(message, HasSubstr("cycle detected in the references of '"));
    // Three paths: the whole cycle is named, in reference order.
    for (const auto& p : {a, b, c})
        EXPECT_THAT(message, HasSubstr(store->print(p)));
    EXPECT_THAT(message, testing::ContainsRegex("; the cycle: '[^']*' -> '[^']*' -> '[^']*' -> '[^']*'$"));
    for (const auto& p : {a, b, c})
        EXPECT_FALSE(store->is_valid_path(p));
    EXPECT_TRUE(store.staging_leftovers().empty());

    auto dry = message_of([&] { run(worker, [&](Worker& w) { return w.query_missing({Target{b, {}}}); }); });
    EXPECT_THAT(dry, HasSubstr("cycle detected in the references of '"));
}

TEST_F(WorkerTest, DerivationCycleFailsAtOnce) {
    auto [a, b] = add_derivation_cycle(*store.store);
    Worker worker(io, pool, view, {}, &builder, options, progress);
    auto start = std::chrono::steady_clock::now();
    auto message = message_of([&] { realise(worker, {out(a)}); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_THAT(message, HasSubstr("cycle detected in the references of '"));
    EXPECT_THAT(message, HasSubstr(store->print(a)));
    EXPECT_THAT(message, HasSubstr(store->print(b)));
    EXPECT_TRUE(builder.started.empty());

    try {
        run(worker, [&](Worker& w) { return w.query_missing({out(b)}); });
        ADD_FAILURE() << "no error";
    } catch (const CycleError& e) {
        // Nix's wording: the path reached again, from the one that refers to it.
        EXPECT_THAT(e.what(),
                    testing::MatchesRegex("cycle detected in the references of '.*-cyc-(a|b).drv' from "
                                          "'.*-cyc-(a|b).drv'"));
    }
}

TEST_F(WorkerTest, PlatformIsCheckedBeforeAnythingIsBuilt) {
    auto input = add_test_derivation(*store.store, "input", {});
    Derivation arm;
    arm.name = "arm";
    arm.outputs["out"] = DerivationOutput{};
    arm.input_drvs[input] = {"out"};
    arm.platform = "aarch64-linux";
    arm.builder = "/bin/sh";
    arm.env = {{"name", "arm"}, {"requiredSystemFeatures", "kvm"}};
    auto drv = add_derivation(*store.store, arm);
    options.platform =
        Platform{.system = "x86_64-linux", .extra_platforms = {"i686-linux"}, .features = {"kvm"}};
    Worker worker(io, pool, view, {}, &builder, options, progress);
    auto message = message_of([&] { realise(worker, {out(drv)}); });
    EXPECT_EQ(message, "a 'aarch64-linux' with features {kvm} is required to build '" + store->print(drv) +
                           "', but I am a 'x86_64-linux' with features {kvm}");
    EXPECT_TRUE(builder.started.empty()) << "not even its input";
    EXPECT_EQ(progress.derived().failed, 1u);

    options.platform.extra_platforms.insert("aarch64-linux");
    Worker other(io, pool, view, {}, &builder, options, progress);
    realise(other, {out(drv)});
    EXPECT_TRUE(store->is_valid_path(out_path(drv)));
}

TEST_F(WorkerTest, NextSubstituterIsTriedWhenAFetchFails) {
    StorePath p = made_up_path("p"), q = made_up_path("q");
    FakeSubstituter broken(store->store_dir(), 0ms, "fake://broken", 10);
    FakeSubstituter good(store->store_dir(), 0ms, "fake://good", 20);
    FakeSubstituter empty(store->store_dir(), 0ms, "fake://empty", 15);
    for (auto* cache : {&broken, &good}) {
        cache->add(p, {q});
        cache->add(q, {});
    }
    broken.fail_fetch(p);
    RecordingProgress log;
    // Given in the wrong order: priority decides.
    Worker worker(io, pool, view, {&good, &empty, &broken}, nullptr, options, log);
    realise(worker, {Target{p, {}}});
    EXPECT_TRUE(store->is_valid_path(p));
    EXPECT_EQ(broken.fetches, 2u); // p (failed) and q
    EXPECT_EQ(good.fetches, 1u);   // p
    EXPECT_THAT(log.messages,
                testing::Contains("warning: cannot substitute '" + store->print(p) +
                                  "' from 'fake://broken': NAR is corrupt (injected by the test); "
                                  "trying 'fake://good'"));
    EXPECT_THAT(log.messages, testing::Contains("copied path '" + store->print(p) + "' from 'fake://good'"));
}

TEST_F(WorkerTest, FailedReferencesAreNotTheSubstitutersFault) {
    // q fails everywhere; p, which refers to it, is then not fetched again from the second cache.
    StorePath p = made_up_path("p2"), q = made_up_path("q2");
    FakeSubstituter first(store->store_dir(), 0ms, "fake://first", 10);
    FakeSubstituter second(store->store_dir(), 0ms, "fake://second", 20);
    for (auto* cache : {&first, &second}) {
        cache->add(p, {q});
        cache->add(q, {});
        cache->fail_fetch(q);
    }
    RecordingProgress log;
    Worker worker(io, pool, view, {&first, &second}, nullptr, options, log);
    auto message = message_of([&] { realise(worker, {Target{p, {}}}); });
    EXPECT_EQ(message,
              "cannot substitute '" + store->print(q) +
                  "' from any of 2 substituters: 'fake://first': NAR is corrupt (injected by the test); "
                  "'fake://second': NAR is corrupt (injected by the test)");
    EXPECT_EQ(first.fetches, 2u);
    EXPECT_EQ(second.fetches, 1u) << "q only";
    EXPECT_FALSE(store->is_valid_path(p));
    EXPECT_TRUE(store.staging_leftovers().empty());
}
