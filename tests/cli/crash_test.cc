// The crash test of issue 13: `ferry realise` of a 2,000-path closure (substituting from a local binary
// cache and building in the sandbox at once) killed with SIGKILL at 50 random moments. After each kill,
// `ferry store verify --check-contents` (the command) finds nothing wrong (it lists what the killed run
// left, which its start-up clean-up deletes), a second `ferry store verify` finds nothing at all, and
// nothing else is left: no build directory, lock file, mount or builder process. Every fifth kill, the same
// realise runs to its end on the killed store. The valid paths after each kill show that a killed run keeps
// its work.
//
// And the full disk: a substitution and a build that fill a small tmpfs holding the store fail with one
// line naming what could not be written and why; once space is freed, the store is consistent and the
// same realise completes.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/util/file.hh"
#include "ferry/util/finally.hh"
#include "robust_fixture.hh"
#include "support/store_check.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kKillsPerStore = 5;

/// 50, or FERRY_CRASH_KILLS (a quicker local run).
int kills_wanted() {
    const char* env = std::getenv("FERRY_CRASH_KILLS");
    return env && std::atoi(env) > 0 ? std::atoi(env) : 50;
}

/// The closure: two synthetic trees (1 + 12 + 144 + 1,728 and 1 + 10 + 100 paths), busybox and 20
/// derivations built in the sandbox, 4 at a time: 2,017 paths.
struct CrashClosure {
    std::vector<SyntheticPath> paths;
    std::vector<std::string> targets;
};

CrashClosure crash_closure(const fs::path& dir, const std::string& tag) {
    CrashClosure c;
    c.paths = synthetic_tree(tag + "-a", 3, 12, 12);
    auto b = synthetic_tree(tag + "-b", 2, 10, 10);
    c.paths.insert(c.paths.end(), b.begin(), b.end());
    StoreDir store_dir;
    c.targets = {store_dir.print(c.paths.front().path), store_dir.print(b.front().path)};
    for (auto& f : tagged_derivations(dir, tag, 20, "echo $name > $out", "0.2"))
        c.targets.push_back(f);
    return c;
}

} // namespace

TEST_F(RobustTest, RealiseKilledFiftyTimesLeavesAConsistentStore) {
    std::string tag = "crash-" + std::to_string(::getpid());
    auto closure = crash_closure(tmp.path() / "drvs", tag);
    serve(closure.paths);
    std::vector<std::string> realise{"--option", "max-jobs", "4", "realise"};
    realise.insert(realise.end(), closure.targets.begin(), closure.targets.end());

    // One uninterrupted run: how long a realise takes here.
    auto started = Clock::now();
    import_busybox();
    auto first = wait_with_usage(start("full", realise));
    auto took = Clock::now() - started;
    ASSERT_EQ(first.status, 0) << err_of("full");
    size_t total = valid_count();
    EXPECT_GE(total, 2000u);
    for (const auto& l : leftovers(tag, {}, StoreCheck::verify_command))
        ADD_FAILURE() << "after the uninterrupted run: " << l;

    std::random_device seed_source;
    unsigned seed = seed_source();
    SCOPED_TRACE("random seed " + std::to_string(seed));
    std::mt19937 random(seed);
    std::uniform_int_distribution<int64_t> pick(
        0, std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    const int kKills = kills_wanted();
    bool ended_first = false;
    int kills = 0, inconsistent = 0, finished_first = 0, kept_work = 0;
    auto test_start = Clock::now();
    for (int attempt = 0; kills < kKills && attempt < 3 * kKills; ++attempt) {
        if (attempt % kKillsPerStore == 0 || ended_first) {
            delete_path(root);
            import_busybox();
        }
        size_t before = valid_count();
        std::string name = "run-" + std::to_string(attempt);
        pid_t pid = start(name, realise);
        std::this_thread::sleep_for(std::chrono::microseconds(pick(random)));
        bool killed = ::kill(pid, SIGKILL) == 0;
        auto w = wait_with_usage(pid);
        ended_first = w.status != 128 + SIGKILL;
        if (ended_first) {
            ++finished_first; // it ended before the moment drawn: the next run starts on a fresh store
            EXPECT_EQ(w.status, 0) << err_of(name);
        } else if (killed) {
            ++kills;
        }
        auto found = leftovers(tag, {}, StoreCheck::verify_command);
        size_t after = valid_count();
        if (after > before) ++kept_work;
        EXPECT_GE(after, before);
        if (!found.empty()) ++inconsistent;
        for (const auto& l : found)
            ADD_FAILURE() << name << ": " << l;
        if (attempt % kKillsPerStore == kKillsPerStore - 1) {
            // The killed store is usable: the same realise completes.
            auto again = wait_with_usage(start(name + "-rerun", realise));
            EXPECT_EQ(again.status, 0) << err_of(name + "-rerun");
            EXPECT_EQ(valid_count(), total);
            for (const auto& l : leftovers(tag, {}, StoreCheck::verify_command))
                ADD_FAILURE() << name << " rerun: " << l;
        }
    }
    EXPECT_EQ(kills, kKills);
    EXPECT_EQ(inconsistent, 0);
    EXPECT_GT(kept_work, 0) << "killed runs keep the paths they finished";
    std::printf("%d kills, %d inconsistencies (%d runs ended first; %d killed runs added valid paths; "
                "a realise of %zu paths took %.2f s; the test %.1f s; store verify --check-contents "
                "%d times, %.2f s each on average, listed %zu leftovers of killed runs)\n",
                kills, inconsistent, finished_first, kept_work, total,
                std::chrono::duration<double>(took).count(),
                std::chrono::duration<double>(Clock::now() - test_start).count(), verify_runs,
                verify_runs ? verify_seconds / verify_runs : 0.0, stale_reported);
}

namespace {

/// A tmpfs of `size` mounted at `dir`, unmounted (lazily) by the destructor.
struct SmallTmpfs {
    SmallTmpfs(const fs::path& dir, const std::string& size) : dir(dir) {
        fs::create_directories(dir);
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size).c_str()) == 0;
    }
    ~SmallTmpfs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    }
    fs::path dir;
    bool mounted = false;
};

} // namespace

TEST_F(RobustTest, AFullDiskFailsWithOneClearLineAndTheStoreStaysConsistent) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    std::string tag = "disk-" + std::to_string(::getpid());
    SmallTmpfs small(tmp.path() / "small", "24m");
    ASSERT_TRUE(small.mounted) << "mounting a tmpfs at " << small.dir;
    fs::path store = small.dir / "root";
    // A path of 12 MB (NARs are served uncompressed) beside small ones, and a build writing 30 MB.
    std::vector<SyntheticPath> paths = synthetic_tree(tag, 1, 8, 1);
    std::string big(12 << 20, 'x');
    paths[1].contents = big;
    serve(paths);
    std::string top = StoreDir().print(paths.front().path);
    auto filler = small.dir / "filler";

    // Fill the disk but for 6 MB once busybox is in.
    auto r = run_command(ferry_command(import_args(fixture("-busybox-static")), store));
    ASSERT_EQ(r.status, 0) << r.err;
    auto space = fs::space(small.dir);
    ASSERT_GT(space.available, 6u << 20);
    write_file_atomic(filler, std::string(space.available - (6 << 20), '\0'));

    auto sub = run_command(ferry_command({"realise", top}, store));
    EXPECT_NE(sub.status, 0);
    EXPECT_NE(sub.err.find("No space left on device"), std::string::npos) << sub.err;
    EXPECT_NE(sub.err.find(StoreDir().print(paths[1].path)), std::string::npos) << sub.err;
    EXPECT_EQ(sub.err.find("multiple exceptions"), std::string::npos) << sub.err;
    std::printf("substitution on a full disk: %s", sub.err.c_str());

    auto drv = tagged_derivations(tmp.path() / "drvs", tag, 1,
                                  "$bb/busybox dd if=/dev/zero of=$out bs=1M count=30")[0];
    auto build = run_command(ferry_command({"realise", drv}, store));
    EXPECT_NE(build.status, 0);
    EXPECT_NE(build.err.find("No space left on device"), std::string::npos) << build.err;
    EXPECT_EQ(build.err.find("multiple exceptions"), std::string::npos) << build.err;
    std::printf("build on a full disk: %s", build.err.c_str());

    for (const auto& l : leftovers(tag, store, StoreCheck::verify_command))
        ADD_FAILURE() << "on the full disk: " << l;
    fs::remove(filler);
    auto again = run_command(ferry_command({"realise", top}, store));
    EXPECT_EQ(again.status, 0) << again.err;
    for (const auto& l : leftovers(tag, store, StoreCheck::verify_command))
        ADD_FAILURE() << "after space was freed: " << l;
    delete_path(store);
}
