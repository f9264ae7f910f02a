// `ferry build` with two machines over real sshd (each a forced `nix-store --serve --write` on its own
// store) and this machine, when one machine goes away in the middle of the batch (its sshd and every
// session process killed) or is unreachable from the start: the batch still succeeds, the builds the
// machine had in flight finish elsewhere (the events say where), the dead machine is not contacted
// again before its back-off ends (ssh, a wrapper first on PATH, logs every invocation), every output is
// whole and valid, and nothing is left behind (processes, temp dirs, sessions on the live machine).

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/store/derivation_store.hh"
#include "ferry/store/nar.hh"
#include "remote_fixture.hh"
#include "support/events_check.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/store_check.hh"

namespace fs = std::filesystem;

namespace ferry::test {
namespace {

double wall_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

/// A variable of this process's environment (which ferry inherits) set for the scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = ::getenv(name)) old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

struct Node {
    std::string name;
    StorePath drv;
    std::string out; ///< the output's store path
};

/// Where each build ran, from ferry's internal-json events: per derivation the machines its build
/// activities started on (in order; "" is this machine) and the machine it finished on.
struct BuildPlaces {
    std::map<std::string, std::vector<std::string>> started;
    std::map<std::string, std::string> done;
    std::set<std::string> failed;
    std::vector<std::string> warnings;
};

BuildPlaces build_places(const std::vector<LogEvent>& events) {
    BuildPlaces p;
    std::map<ActivityId, std::pair<std::string, std::string>> builds; // id → drv, machine
    for (const auto& e : events) {
        if (const auto* s = std::get_if<ActivityStarted>(&e); s && s->type == ActivityType::build) {
            builds[s->id] = {field_str(s->fields, 0), field_str(s->fields, 1)};
            p.started[field_str(s->fields, 0)].push_back(field_str(s->fields, 1));
        } else if (const auto* r = std::get_if<ActivityResult>(&e); r && r->type == ResultType::progress) {
            auto it = builds.find(r->id);
            if (it == builds.end()) continue;
            if (field_int(r->fields, 0) > 0) p.done[it->second.first] = it->second.second;
            if (field_int(r->fields, 3) > 0) p.failed.insert(it->second.first);
        } else if (const auto* m = std::get_if<LogMessage>(&e); m && m->text.starts_with("warning: ")) {
            p.warnings.push_back(m->text);
        }
    }
    return p;
}

/// The complete lines of `file` (a line being written is left for later).
std::string complete_lines(const fs::path& file) {
    std::string text = read_file(file);
    return text.substr(0, text.rfind('\n') + 1);
}

class RemoteFaultTest : public RemoteFixture {
protected:
    RemoteFaultTest()
        : tag_("FERRY_FAULT_TEST=" + std::to_string(::getpid()) + "-" + work_.path().filename().string()) {
        fs::create_directories(work_.path() / "bin");
        fs::create_directories(work_.path() / "tmp");
        // Every ssh ferry starts, with its time: the connections each machine was asked for.
        write_file_atomic(work_.path() / "bin" / "ssh",
                          "#!/bin/sh\nprintf '%s %s\\n' \"$(date +%s.%N)\" \"$*\" >> '" + ssh_log().string() +
                              "'\nexec /usr/bin/ssh \"$@\"\n",
                          0755);
        isolate_config_environment(work_.path());
    }

    fs::path ssh_log() const { return work_.path() / "ssh.log"; }

    /// A graph of `levels` (leaves first): node i of a level needs nodes i and i+1 of the level below;
    /// each build checks that its inputs are there, sleeps `sleep` seconds and writes its name.
    std::vector<Node> make_graph(const std::vector<size_t>& levels, const std::string& sleep) {
        std::vector<Node> nodes;
        auto hasher = store_derivation_hasher(*local_.store);
        size_t below_start = 0, below_size = 0;
        for (size_t level = 0; level < levels.size(); ++level) {
            size_t start = nodes.size();
            for (size_t i = 0; i < levels[level]; ++i) {
                Derivation d;
                d.name = "fault-" + std::to_string(level) + "-" + std::to_string(i);
                d.outputs["out"] = {};
                d.input_srcs = {dir_.parse(kBusyboxPath)};
                d.platform = "x86_64-linux";
                d.builder = std::string(kBusyboxPath) + "/bin/sh";
                d.args = {"-c", "for d in $deps; do test -e $d || exit 1; done; sleep " + sleep +
                                    "; echo $name > $out"};
                std::string deps;
                for (size_t k = 0; level > 0 && k < std::min<size_t>(2, below_size); ++k) {
                    const auto& dep = nodes[below_start + (i + k) % below_size];
                    d.input_drvs[dep.drv].insert("out");
                    deps += (deps.empty() ? "" : " ") + dep.out;
                }
                d.env = {{"name", d.name},
                         {"out", ""},
                         {"builder", d.builder},
                         {"system", d.platform},
                         {"deps", deps}};
                auto drv_path = add_derivation(*local_.store, d, hasher);
                auto out = read_derivation(*local_.store, drv_path).output_path(dir_, "out");
                nodes.push_back({d.name, drv_path, dir_.print(out)});
            }
            below_start = start;
            below_size = levels[level];
        }
        return nodes;
    }

    /// Nix's machine line for `sshd`: URI, systems, key, max jobs, speed, features, host key.
    static std::string machine_line(const std::string& uri, const SshServer& keys, unsigned jobs) {
        return uri + " x86_64-linux " + keys.user_key().string() + " " + std::to_string(jobs) + " 1 - - " +
               keys.host_key_base64();
    }

    /// Starts `ferry build` of every node with `builders` and one local slot, its events on `err`.
    pid_t start_ferry(const std::string& builders, const std::vector<Node>& nodes) {
        ScopedEnv path("PATH", (work_.path() / "bin").string() + ":" + ::getenv("PATH"));
        ScopedEnv tmp("TMPDIR", (work_.path() / "tmp").string());
        ScopedEnv tag(tag_.substr(0, tag_.find('=')).c_str(), tag_.substr(tag_.find('=') + 1));
        std::vector<std::string> args{(build_root() / "src" / "cli" / "ferry").string(),
                                      "--store",
                                      local_.config.effective_root().string(),
                                      "--log-format",
                                      "internal-json",
                                      "build",
                                      "--no-out-link",
                                      "--max-jobs",
                                      "1",
                                      "--builders",
                                      builders};
        for (const auto& n : nodes)
            args.push_back(dir_.print(n.drv));
        return spawn_command(args, "/dev/null", out_file(), err_file());
    }
    fs::path out_file() const { return work_.path() / "ferry.out"; }
    fs::path err_file() const { return work_.path() / "ferry.err"; }

    /// Waits ≤ `limit` for `pid`; kills it when it takes longer (the test then fails).
    int wait_ferry(pid_t pid, std::chrono::seconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        int status = 0;
        while (::waitpid(pid, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > until) {
                ADD_FAILURE() << "ferry build took longer than " << limit.count() << " s";
                ::kill(pid, SIGKILL);
                return wait_command(pid);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    /// The times ferry started ssh for the machine on `port`, in order.
    std::vector<double> ssh_calls(unsigned port) const {
        std::vector<double> out;
        if (!fs::exists(ssh_log())) return out;
        std::string log = read_file(ssh_log());
        std::string needle = " -p " + std::to_string(port) + " ";
        for (size_t pos = 0, nl; (nl = log.find('\n', pos)) != std::string::npos; pos = nl + 1) {
            auto line = log.substr(pos, nl - pos);
            if (line.find(needle) != std::string::npos)
                out.push_back(std::stod(line.substr(0, line.find(' '))));
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    /// Every output printed, valid, with the NAR hash of what its builder writes; the store whole.
    void check_outputs(const std::vector<Node>& nodes) {
        std::set<std::string> printed;
        std::string out = read_file(out_file());
        for (size_t pos = 0, nl; (nl = out.find('\n', pos)) != std::string::npos; pos = nl + 1)
            printed.insert(out.substr(pos, nl - pos));
        fs::path expected_file = work_.path() / "expected";
        for (const auto& n : nodes) {
            EXPECT_TRUE(printed.count(n.out)) << n.out;
            write_file_atomic(expected_file, n.name + "\n");
            auto expected = hash_path(HashAlgo::sha256, expected_file);
            auto info = local_info(n.out);
            EXPECT_EQ(info.nar_hash.to_nix32_prefixed(), expected.hash.to_nix32_prefixed()) << n.out;
            EXPECT_EQ(info.nar_size, expected.nar_size) << n.out;
        }
        EXPECT_EQ(store_problems(local_.config), std::vector<std::string>{});
        auto verify = run_ferry(
            {"--store", local_.config.effective_root().string(), "store", "verify", "--check-contents"});
        EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
    }

    /// No process of the run is left (ferry, its ssh), nor a temp dir, nor a session on `live`.
    void check_nothing_left(const SshServer& live) {
        // ssh's ends on the other side close as ferry's ssh exit; give sshd a moment to see it.
        for (int i = 0; i < 100 && live.descendants() > 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_EQ(live.descendants(), 0u) << "sessions left on the live machine";
        EXPECT_EQ(processes_with_env(tag_), std::vector<int>{}) << "processes left by the run";
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(work_.path() / "tmp"))
            left.push_back(e.path().filename().string());
        EXPECT_EQ(left, std::vector<std::string>{}) << "temp dirs left by the run";
    }

    std::string tag_;
};

TEST_F(RemoteFaultTest, MachineKilledMidBatchHandsItsBuildsOver) {
    SshServer a(nix_serve_command("a")), b(nix_serve_command("b"));
    auto nodes = make_graph({12, 10, 8, 1}, "0.4");
    std::string builders = machine_line(a.uri(), a, 2) + ";" + machine_line(b.uri(), b, 2);
    pid_t ferry = start_ferry(builders, nodes);

    // Once A has three builds started, it goes away with the ones it is running.
    BuildPlaces at_kill;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        at_kill = build_places(parse_internal_json(complete_lines(err_file())));
        size_t on_a = 0;
        for (const auto& [drv, machines] : at_kill.started)
            on_a += std::count(machines.begin(), machines.end(), a.uri());
        if (on_a >= 3) break;
        int status = 0;
        ASSERT_EQ(::waitpid(ferry, &status, WNOHANG), 0)
            << "ferry ended before A built: " << read_file(err_file());
        if (std::chrono::steady_clock::now() > until) {
            ::kill(ferry, SIGKILL);
            wait_command(ferry);
            FAIL() << "machine A started no 3 builds in 30 s: " << read_file(err_file()) << a.log();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double killed_at = wall_seconds(); // A's builds fail after this: its back-off starts later
    a.kill_all();
    std::set<std::string> in_flight;
    for (const auto& [drv, machines] : at_kill.started)
        if (machines.back() == a.uri() && !at_kill.done.count(drv)) in_flight.insert(drv);

    int status = wait_ferry(ferry, std::chrono::seconds(60));
    std::string err = read_file(err_file());
    ASSERT_EQ(status, 0) << err << b.log();
    auto events = parse_internal_json(err);
    EXPECT_EQ(unsettled(derive_counters(events)), "");
    auto places = build_places(events);
    EXPECT_EQ(places.failed, std::set<std::string>{});
    EXPECT_EQ(places.done.size(), nodes.size());

    // What A was running finished on B or here (a build that ended on A in the moment of the kill
    // excepted); a build that moved says so with a second start.
    EXPECT_FALSE(in_flight.empty());
    size_t moved = 0;
    for (const auto& drv : in_flight) {
        ASSERT_TRUE(places.done.count(drv)) << drv;
        if (places.done[drv] == a.uri()) continue;
        ++moved;
        EXPECT_EQ(places.started[drv].front(), a.uri()) << drv;
        EXPECT_NE(places.started[drv].back(), a.uri()) << drv;
    }
    EXPECT_GE(moved, 1u);
    bool warned = std::any_of(places.warnings.begin(), places.warnings.end(), [&](const std::string& w) {
        return w.starts_with("warning: machine '" + a.uri() + "' is down, not trying it again for 1000 ms: ");
    });
    EXPECT_TRUE(warned) << err;

    // After the kill: what ferry asked of A before it knew (a connection per slot at most, in the
    // moment before the first failure), then one connection once each back-off (1 s, 2 s, …) is over.
    auto calls = ssh_calls(a.port());
    std::vector<double> unaware, probes;
    for (double t : calls)
        if (t > killed_at) (t < killed_at + 0.95 ? unaware : probes).push_back(t);
    EXPECT_LE(unaware.size(), 2u) << "at most one connection per slot before A is known down";
    EXPECT_LE(probes.size(), 4u) << "not one attempt per derivation";
    double backoff = 1.0, previous = killed_at;
    for (double t : probes) {
        EXPECT_GE(t - previous, backoff - 0.05) << "contacted during its back-off";
        previous = t;
        backoff *= 2;
    }
    std::cerr << "machine A: " << calls.size() - unaware.size() - probes.size() << " ssh before the kill, "
              << unaware.size() << " + " << probes.size()
              << " after; machine B: " << ssh_calls(b.port()).size() << "; moved " << moved << " of "
              << in_flight.size() << " in flight\n";

    check_outputs(nodes);
    check_nothing_left(b);
}

TEST_F(RemoteFaultTest, UnreachableMachineIsTriedOncePerBackOff) {
    SshServer b(nix_serve_command("b"));
    // A machine whose port nobody listens on (its keys are B's: it never gets as far as using them).
    unsigned dead_port = free_loopback_port();
    std::string dead = b.uri().substr(0, b.uri().rfind(':') + 1) + std::to_string(dead_port);
    auto nodes = make_graph({8, 6, 1}, "0.3");
    pid_t ferry = start_ferry(machine_line(dead, b, 2) + ";" + machine_line(b.uri(), b, 2), nodes);
    int status = wait_ferry(ferry, std::chrono::seconds(60));
    std::string err = read_file(err_file());
    ASSERT_EQ(status, 0) << err << b.log();
    auto events = parse_internal_json(err);
    EXPECT_EQ(unsettled(derive_counters(events)), "");
    auto places = build_places(events);
    EXPECT_EQ(places.failed, std::set<std::string>{});
    EXPECT_EQ(places.done.size(), nodes.size());
    for (const auto& [drv, machines] : places.started)
        EXPECT_EQ(std::count(machines.begin(), machines.end(), dead), 0) << drv;
    bool warned = std::any_of(places.warnings.begin(), places.warnings.end(), [&](const std::string& w) {
        return w.starts_with("warning: machine '" + dead + "' is down, not trying it again for 1000 ms: ");
    });
    EXPECT_TRUE(warned) << err;

    // Tried at the start (a connection per slot: nothing is known of it yet), then once each back-off
    // (1 s, 2 s, …) has passed while builds still wait.
    auto calls = ssh_calls(dead_port);
    ASSERT_GE(calls.size(), 1u);
    EXPECT_LE(calls.size(), 5u) << "not one attempt per derivation";
    size_t first = std::count_if(calls.begin(), calls.end(), [&](double t) { return t < calls[0] + 0.5; });
    EXPECT_LE(first, 2u) << "at first one connection per slot";
    double backoff = 1.0;
    for (size_t i = first; i < calls.size(); ++i, backoff *= 2)
        EXPECT_GE(calls[i] - calls[i - 1], backoff - 0.05) << "contacted during its back-off";
    std::cerr << "unreachable machine: " << calls.size() << " ssh; machine B: " << ssh_calls(b.port()).size()
              << "\n";

    check_outputs(nodes);
    check_nothing_left(b);
}

} // namespace
} // namespace ferry::test
