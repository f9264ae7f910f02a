// SIGINT and SIGTERM at random moments of `ferry realise`: substituting from a binary cache that answers
// slowly, and building a batch of small derivations in the sandbox. Every run must exit 130 or 143 (not
// crash), and leave a consistent store and nothing else behind: no builder process, no mount, nothing
// staged, no half-moved path.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.hh"
#include "ferry/util/file.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"
#include "support/store_check.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRuns = 20;

/// How one interrupted run ended.
struct Outcome {
    int sig = 0;
    Clock::duration delay{};     ///< from the run's start of work to the signal
    bool finished_first = false; ///< its work was done (or it had exited) when the signal was due
    int status = -1;             ///< exit code, or 128 + signal when killed
    bool exited = false;         ///< exited (rather than killed by a signal)
};

/// One ferry process of a scenario.
struct Run {
    int index = 0;
    pid_t pid = -1;
    Clock::time_point deadline;
    std::optional<Clock::time_point> signal_at;
    Outcome outcome;
};

/// The time from `working()` to the first output on `out` (a realise prints its paths once all is
/// done) of the process `pid`, which is waited for; its exit code goes to `status`. Bounded: 30 s.
Clock::duration time_of_work(pid_t pid, const fs::path& out, const std::function<bool()>& working,
                             int& status) {
    auto limit = Clock::now() + 30s;
    std::optional<Clock::time_point> working_at, done_at;
    int raw = 0;
    while (::waitpid(pid, &raw, WNOHANG) != pid) {
        auto now = Clock::now();
        if (!working_at && working()) working_at = now;
        if (working_at && !done_at && fs::exists(out) && fs::file_size(out) > 0) done_at = now;
        if (now > limit) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(1ms);
    }
    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    if (!working_at) return 0s;
    return done_at.value_or(Clock::now()) - *working_at;
}

/// Runs `count` processes, `concurrency` at a time: `launch(i)` starts run i and returns its pid; once
/// `working(i)` holds, run i gets SIGINT (even i) or SIGTERM (odd i) after a random delay below
/// `window`, unless `done(i)` holds by then (its work is over: the signal would come too late to
/// interrupt anything). `check(i, outcome)` is called once run i has ended. Every run is bounded (30 s,
/// then SIGKILL).
void interrupt_runs(int count, int concurrency, Clock::duration window,
                    const std::function<pid_t(int)>& launch, const std::function<bool(int)>& working,
                    const std::function<bool(int)>& done,
                    const std::function<void(int, const Outcome&)>& check) {
    std::random_device seed_source;
    unsigned seed = seed_source();
    std::mt19937 random(seed);
    SCOPED_TRACE("random seed " + std::to_string(seed));
    std::uniform_int_distribution<int64_t> pick(
        0, std::chrono::duration_cast<std::chrono::microseconds>(window).count());
    std::vector<Run> active;
    int next = 0;
    while (next < count || !active.empty()) {
        while (next < count && int(active.size()) < concurrency) {
            Run r;
            r.index = next++;
            r.outcome.sig = r.index % 2 ? SIGTERM : SIGINT;
            r.pid = launch(r.index);
            r.deadline = Clock::now() + 30s;
            active.push_back(r);
        }
        for (auto it = active.begin(); it != active.end();) {
            auto& r = *it;
            auto now = Clock::now();
            if (!r.signal_at && working(r.index)) {
                r.outcome.delay = std::chrono::microseconds(pick(random));
                r.signal_at = now + r.outcome.delay;
            }
            int status = 0;
            pid_t reaped = ::waitpid(r.pid, &status, WNOHANG);
            if (reaped == r.pid) {
                r.outcome.exited = WIFEXITED(status);
                r.outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                r.outcome.finished_first |= !r.signal_at || now < *r.signal_at;
                check(r.index, r.outcome);
                it = active.erase(it);
                continue;
            }
            if (r.signal_at && now >= *r.signal_at && r.outcome.status == -1) {
                if (done(r.index))
                    r.outcome.finished_first = true;
                else
                    ::kill(r.pid, r.outcome.sig);
                r.outcome.status = -2; // sent, or too late
            }
            if (now > r.deadline) {
                ADD_FAILURE() << "run " << r.index << " did not end within 30 s";
                ::kill(r.pid, SIGKILL);
                r.deadline = Clock::time_point::max();
            }
            ++it;
        }
        std::this_thread::sleep_for(2ms);
    }
}

/// Mount points of this mount namespace under `dir`.
std::vector<std::string> mounts_under(const fs::path& dir) {
    std::vector<std::string> found;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
        if (line.find(" " + dir.string()) != std::string::npos) found.push_back(line);
    return found;
}

std::string fixture_key() {
    std::string key = read_file(compat_dir() / "keys" / "cache.pub");
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
        key.pop_back();
    return key;
}

std::string ferry_binary() {
    return (build_root() / "src" / "cli" / "ferry").string();
}

/// `ferry store import` arguments of a compat fixture path.
std::vector<std::string> import_args(const nlohmann::json& e) {
    std::vector<std::string> a{"store",      "import",    compat_nar(e).string(), "--path", e["path"],
                               "--nar-hash", e["narHash"]};
    for (const auto& r : e["references"])
        a.insert(a.end(), {"--reference", r.get<std::string>()});
    if (e.contains("ca")) a.insert(a.end(), {"--ca", e["ca"].get<std::string>()});
    return a;
}

class SignalTest : public ::testing::Test {
protected:
    SignalTest() {
        for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"})
            ::unsetenv(name);
        // No ferry.conf of the user's; one narinfo disk cache for these runs only.
        ::setenv("XDG_CONFIG_HOME", (tmp.path() / "config").c_str(), 1);
        ::setenv("XDG_CACHE_HOME", (tmp.path() / "xdg-cache").c_str(), 1);
    }

    /// The problems `check` looks for in run `i`'s directory, as test failures.
    void expect_clean(const fs::path& dir, const std::string& what) {
        StoreConfig config{.store_dir = "/nix/store", .root = dir / "root"};
        for (const auto& p : store_problems(config))
            ADD_FAILURE() << what << ": " << p;
        for (const auto& m : mounts_under(dir))
            ADD_FAILURE() << what << ": mount left: " << m;
    }

    /// A run signalled in the middle of its work exits 130 (SIGINT) or 143 (SIGTERM); one whose work
    /// was over at the chosen moment was not signalled, and exits 0. Returns whether it was interrupted.
    static bool expect_interrupted(const Outcome& o, const std::string& what, const fs::path& err) {
        if (o.finished_first) {
            EXPECT_EQ(o.status, 0) << what << " finished before its signal was due\n" << read_file(err);
            return false;
        }
        EXPECT_TRUE(o.exited) << what << " was killed by signal " << o.status - 128 << "\n" << read_file(err);
        EXPECT_EQ(o.status, 128 + o.sig) << what << ", signal " << o.sig << " after "
                                         << std::chrono::duration<double>(o.delay).count() << " s\n"
                                         << read_file(err);
        return o.status == 128 + o.sig;
    }

    TempDir tmp;
};

} // namespace

TEST_F(SignalTest, RealiseFromASlowCacheStopsCleanlyAtAnyMoment) {
    // Every fixture path, from a cache that waits before each answer: nix-cache-info, narinfos level by
    // level, NARs. Each run has its own server (so "working" means: this run has asked something).
    std::vector<std::string> paths;
    for (const auto& e : compat_path_infos())
        paths.push_back(e["path"]);
    std::vector<std::unique_ptr<HttpServer>> servers(kRuns);
    auto dir = [&](int i) { return tmp.path() / ("http-" + std::to_string(i)); };
    auto launch = [&](int i) {
        servers[i] = std::make_unique<HttpServer>(compat_dir() / "cache-xz");
        servers[i]->set_default_fault(HttpFault{.delay = 150ms});
        std::string url = servers[i]->url("/");
        url.pop_back();
        std::vector<std::string> cmd{ferry_binary(),
                                     "--store",
                                     (dir(i) / "root").string(),
                                     "--option",
                                     "substituters",
                                     url,
                                     "--option",
                                     "trusted-public-keys",
                                     fixture_key(),
                                     "realise"};
        // Every run cold: the narinfo disk cache, which they share, answers nothing.
        for (const char* ttl :
             {"narinfo-cache-positive-ttl", "narinfo-cache-negative-ttl", "narinfo-cache-meta-ttl"})
            cmd.insert(cmd.begin() + 1, {"--option", ttl, "0"});
        cmd.insert(cmd.end(), paths.begin(), paths.end());
        fs::create_directories(dir(i));
        return spawn_command(cmd, "/dev/null", dir(i) / "out", dir(i) / "err");
    };
    auto working = [&](int i) { return servers[i]->requests() > 0; };

    auto done = [&](int i) { return fs::file_size(dir(i) / "out") > 0; };

    // One run to the end first: how long a realise works here.
    int status = -1;
    pid_t pid = launch(kRuns - 1);
    auto took = time_of_work(
        pid, dir(kRuns - 1) / "out", [&] { return working(kRuns - 1); }, status);
    ASSERT_EQ(status, 0) << read_file(dir(kRuns - 1) / "err");
    expect_clean(dir(kRuns - 1), "the uninterrupted run");
    fs::remove_all(dir(kRuns - 1));

    int interrupted = 0, finished = 0;
    interrupt_runs(kRuns, 4, took * 8 / 10, launch, working, done, [&](int i, const Outcome& o) {
        std::string what = "run " + std::to_string(i);
        interrupted += expect_interrupted(o, what, dir(i) / "err");
        finished += o.finished_first;
        servers[i].reset();
        expect_clean(dir(i), what);
    });
    // The moments are drawn from the first 80 % of the work: nearly all of them interrupt it.
    EXPECT_EQ(interrupted + finished, kRuns);
    EXPECT_GE(interrupted, kRuns - 2);
    std::printf("a realise worked %.2f s; %d of %d runs interrupted cleanly\n",
                std::chrono::duration<double>(took).count(), interrupted, kRuns);

    // An interrupted store is usable: the same realise finishes.
    HttpServer server(compat_dir() / "cache-xz");
    std::string url = server.url("/");
    url.pop_back();
    std::vector<std::string> again{"--store",  (dir(0) / "root").string(), "--option",    "substituters", url,
                                   "--option", "trusted-public-keys",      fixture_key(), "realise"};
    again.insert(again.end(), paths.begin(), paths.end());
    auto r = run_ferry(again);
    EXPECT_EQ(r.status, 0) << r.err;
    expect_clean(dir(0), "the second run");
}

TEST_F(SignalTest, SandboxedBatchStopsCleanlyAtAnyMoment) {
    constexpr int kDerivations = 16;
    nlohmann::json busybox;
    for (const auto& e : compat_path_infos())
        if (e["path"] == kBusybox) busybox = e;
    auto dir = [&](int i) { return tmp.path() / ("batch-" + std::to_string(i)); };
    auto tag = [&](int i) {
        return "ferry-signal-test-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    };
    // Each run: its own store with busybox, and its own derivations (their builders carry its tag).
    std::vector<std::vector<std::string>> commands(kRuns);
    for (int i = 0; i < kRuns; ++i) {
        fs::create_directories(dir(i));
        auto root = (dir(i) / "root").string();
        std::vector<std::string> import{"--store", root};
        auto args = import_args(busybox);
        import.insert(import.end(), args.begin(), args.end());
        auto imported = run_ferry(import);
        ASSERT_EQ(imported.status, 0) << imported.err;
        commands[i] = {ferry_binary(), "--store", root, "--option", "sandbox", "true", "realise", "-j", "4"};
        for (int k = 0; k < kDerivations; ++k)
            commands[i].push_back(busybox_derivation(dir(i), "batch-" + std::to_string(k),
                                                     "$bb/busybox sleep 0.25; echo $name > $out",
                                                     {{"FERRY_SIGNAL_TEST", tag(i)}}));
    }
    auto launch = [&](int i) {
        return spawn_command(commands[i], "/dev/null", dir(i) / "out", dir(i) / "err");
    };
    auto working = [&](int i) { return read_file(dir(i) / "err").find("building '") != std::string::npos; };

    // A run to the end first, in a store of its own: how long the batch takes here.
    fs::create_directories(dir(kRuns) / "root");
    auto reference = commands[0];
    reference[2] = (dir(kRuns) / "root").string();
    auto import = std::vector<std::string>{"--store", reference[2]};
    auto args = import_args(busybox);
    import.insert(import.end(), args.begin(), args.end());
    ASSERT_EQ(run_ferry(import).status, 0);
    pid_t pid = spawn_command(reference, "/dev/null", dir(kRuns) / "out", dir(kRuns) / "err");
    int status = -1;
    auto took = time_of_work(
        pid, dir(kRuns) / "out",
        [&] { return read_file(dir(kRuns) / "err").find("building '") != std::string::npos; }, status);
    ASSERT_EQ(status, 0) << read_file(dir(kRuns) / "err");
    auto done = [&](int i) { return fs::file_size(dir(i) / "out") > 0; };
    expect_clean(dir(kRuns), "the uninterrupted batch");

    int interrupted = 0, finished = 0;
    interrupt_runs(kRuns, 3, took * 8 / 10, launch, working, done, [&](int i, const Outcome& o) {
        std::string what = "batch " + std::to_string(i);
        interrupted += expect_interrupted(o, what, dir(i) / "err");
        finished += o.finished_first;
        // The builders die with their sandbox; give the kernel a moment to reap them.
        std::vector<int> left;
        for (int tries = 0; tries < 100 && !(left = processes_with_env(tag(i))).empty(); ++tries)
            std::this_thread::sleep_for(10ms);
        EXPECT_TRUE(left.empty()) << what << ": " << left.size() << " builder processes left, e.g. pid "
                                  << left[0];
        expect_clean(dir(i), what);
    });
    // The moments are drawn from the first 80 % of the work: nearly all of them interrupt it.
    EXPECT_EQ(interrupted + finished, kRuns);
    EXPECT_GE(interrupted, kRuns - 2);
    std::printf("a batch worked %.2f s; %d of %d runs interrupted cleanly\n",
                std::chrono::duration<double>(took).count(), interrupted, kRuns);
}
