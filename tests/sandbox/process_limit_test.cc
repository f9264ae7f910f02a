// A builder that forks thousands of processes: the build's own RLIMIT_NPROC (child_setup.hh,
// build_process_limit) stops it well before the host's process table fills, and when the build ends
// every one of its processes is gone. The sandbox's user namespace makes the kernel count the build's
// processes apart from every other build's and from the caller's.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/sandbox/child_setup.hh"
#include "ferry/sandbox/sandbox_builder.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;

TEST(ProcessLimit, AForkBombIsContainedAndEveryProcessIsGoneAfterTheBuild) {
    const uint64_t limit = build_process_limit();
    // Twice the limit's worth of processes are attempted (two per unit: the marked shell and its
    // sleep). The loop runs in a subshell, so the fork that fails ends it and not the builder, which
    // then stays a moment (a builtin busy loop: forking is over) so that the sampling sees the plateau.
    const uint64_t units = limit;
    const std::string token = "ferry-fork-bomb-" + std::to_string(::getpid());
    std::string script = "( i=0; while [ $i -lt " + std::to_string(units) + " ]; do sh -c 'sleep 600; :' " +
                         token + " & i=$((i+1)); done ) 2>/dev/null\n" +
                         "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done\n" + "echo done > $out\n";
    FakeStore store;
    SandboxBuilder builder(store.options());
    Derivation drv = store.shell_derivation("fork-bomb", script);
    auto job = store.job(drv);

    std::atomic<bool> building{true};
    std::atomic<size_t> most{0};
    std::thread sampler([&] {
        while (building) {
            most = std::max(most.load(), processes_with_argument(token).size());
            std::this_thread::sleep_for(20ms);
        }
    });
    auto start = std::chrono::steady_clock::now();
    std::string outcome = "built";
    try {
        run_build(builder, job);
    } catch (const BuildError& e) {
        outcome = e.what(); // "the build fails or is slow, the host is fine"
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    building = false;
    sampler.join();

    // Gone with the build: the builder was PID 1 of its namespace.
    size_t left = processes_with_argument(token).size();
    for (int i = 0; i < 50 && left > 0; ++i) {
        std::this_thread::sleep_for(100ms);
        left = processes_with_argument(token).size();
    }
    std::printf(
        "fork bomb: limit %llu processes, at most %zu marked shells seen at once, %zu left, %.1f s, %s\n",
        static_cast<unsigned long long>(limit), most.load(), left, seconds, outcome.c_str());
    EXPECT_EQ(left, 0u) << "processes of the build outlived it";
    // Thousands were started, and the limit held: fewer marked shells than units, no more than the limit.
    EXPECT_GE(most.load(), std::min<size_t>(1000, limit / 4));
    EXPECT_LT(most.load(), units);
    EXPECT_LE(most.load(), limit);
    EXPECT_TRUE(store.clean());
    // The host still forks.
    EXPECT_EQ(std::system("true"), 0);
}
