// The ssh machine against real peers (Debian's nix-store --serve --write behind a real sshd) and against
// misbehaving ones (tests/remote/fake_peer.py run in place of ssh).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/ferry_process.hh"

#include "remote_fixture.hh"
#include "support/fixtures.hh"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace ferry::test {
namespace {

constexpr const char* kHelloDrv = "nx6y523jlxy0231i9w3dbag93aw04y31-hello-text";
constexpr const char* kMultiDrv = "izjiriha3x8j9191038a92y4ipmgd6iv-multi-out";
constexpr const char* kUsesTextDrv = "pln31iw6jjv5n4hh8p6qi051fdd1nx56-uses-text";

class SshMachineTest : public RemoteFixture {
protected:
    /// Uploads busybox and plain.txt, builds the compat derivations `drvs` there, checks every output
    /// against path-info.json and makes them valid here.
    void upload_and_build(RemoteMachine& m, const std::vector<std::string>& drvs) {
        StorePathSet inputs{dir_.parse(kBusyboxPath), dir_.parse(kPlainPath)};
        EXPECT_TRUE(run(m.query_valid(inputs, false)).empty());
        run(m.upload(*view_, {local_info(kBusyboxPath), local_info(kPlainPath)}));
        EXPECT_EQ(run(m.query_valid(inputs, false)), inputs);
        for (const auto& base : drvs) {
            auto t = compat_job(base);
            auto trees = run(m.build(t->job, *view_));
            ASSERT_EQ(trees.size(), t->job.outputs.size()) << base;
            for (const auto& tree : trees) {
                auto expected = to_path_info(dir_, fixture_info(dir_.print(tree.info.path)));
                EXPECT_EQ(tree.info.nar_hash, expected.nar_hash) << dir_.print(tree.info.path);
                EXPECT_EQ(tree.info.nar_size, expected.nar_size);
                EXPECT_EQ(tree.info.references, expected.references);
                EXPECT_EQ(tree.info.deriver, t->job.drv_path);
                ASSERT_TRUE(tree.staged && tree.staged->has_contents());
            }
            run(make_valid(*view_, std::move(trees)));
            for (const auto& [name, path] : t->job.outputs) {
                auto info = local_->query_path_info(path);
                ASSERT_TRUE(info) << dir_.print(path);
                EXPECT_EQ(info->nar_hash, to_path_info(dir_, fixture_info(dir_.print(path))).nar_hash);
            }
        }
        EXPECT_TRUE(local_.staging_leftovers().empty());
    }

    /// A build silent for longer than the max-silent-time its job passes on is killed on the machine:
    /// a BuildError with Nix's status TimedOut, long before the build would have ended by itself.
    void expect_silent_build_killed(RemoteMachine& m) {
        run(m.upload(*view_, {local_info(kBusyboxPath)}));
        auto t =
            script_job("silent", "echo starting; " + std::string(kBusyboxPath) + "/bin/busybox sleep 60");
        t->job.max_silent_time = 1;
        auto start = std::chrono::steady_clock::now();
        try {
            run(m.build(t->job, *view_));
            FAIL() << "the silent build succeeded";
        } catch (const BuildError& e) {
            EXPECT_NE(std::string(e.what()).find("TimedOut"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("silence"), std::string::npos) << e.what();
        }
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
        EXPECT_NE(t->log.find("starting"), std::string::npos) << t->log;
        // The connection survived the failed build.
        EXPECT_EQ(run(m.query_valid({dir_.parse(kBusyboxPath)}, false)).size(), 1u);
    }

    /// Cancelling build() ends it at once and kills the remote build (whose builder would otherwise run
    /// for a minute); the machine stays usable.
    void expect_cancel_stops_build(RemoteMachine& m) {
        run(m.upload(*view_, {local_info(kBusyboxPath)}));
        std::string marker = "ferry-cancel-" + std::to_string(::getpid());
        auto t = script_job("long", std::string(kBusyboxPath) + "/bin/busybox sleep 60; : " + marker);
        asio::cancellation_signal cancel;
        auto fut = asio::co_spawn(io_, m.build(t->job, *view_),
                                  asio::bind_cancellation_slot(cancel.slot(), asio::use_future));
        asio::steady_timer timer(io_, std::chrono::seconds(2));
        timer.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
        auto start = std::chrono::steady_clock::now();
        io_.restart();
        while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
            io_.run_one();
        EXPECT_THROW(fut.get(), boost::system::system_error);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
        bool gone = false;
        for (int i = 0; i < 100 && !gone; ++i) {
            // "x[y]" matches "xy" but not the shell command that holds the pattern.
            gone = !shell_output("pgrep -f '" + marker.substr(0, marker.size() - 1) + "[" + marker.back() +
                                 "]'");
            if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_TRUE(gone) << "the remote builder still runs";
        EXPECT_EQ(run(m.query_valid({dir_.parse(kBusyboxPath)}, false)).size(), 1u);
    }

    /// What the store a serve command of `name` serves knows about `path`.
    ValidPathInfo served_info(const std::string& name, std::string_view path) {
        StoreConfig config;
        config.root = remote_root(name);
        LocalStore served(config);
        return served.require_path_info(dir_.parse(path));
    }

    void expect_machine_down(RemoteMachine& m, const std::string& needle) {
        try {
            run(m.query_valid({dir_.parse(kBusyboxPath)}, false));
            FAIL() << "no MachineDown";
        } catch (const MachineDown& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
        }
    }
};

TEST_F(SshMachineTest, NixStoreServeUploadsAndBuilds) {
    SshServer sshd(nix_serve_command("nix-remote"));
    auto m = machine(spec_for(sshd));
    upload_and_build(*m, {kHelloDrv, kMultiDrv, kUsesTextDrv});
    // The outputs are on the machine too, as Nix registered them.
    auto t = compat_job(kHelloDrv);
    EXPECT_EQ(run(m->query_valid({t->job.outputs.at("out")}, false)).size(), 1u);
}

TEST_F(SshMachineTest, NixStoreServeKillsASilentBuildWithTheMaxSilentTimeSent) {
    SshServer sshd(nix_serve_command("nix-remote"));
    auto m = machine(spec_for(sshd));
    expect_silent_build_killed(*m);
}

TEST_F(SshMachineTest, NixStoreServeBuildStopsWhenCancelled) {
    SshServer sshd(nix_serve_command("nix-remote"));
    auto m = machine(spec_for(sshd));
    expect_cancel_stops_build(*m);
}

TEST_F(SshMachineTest, FerryServeBuildStopsWhenCancelled) {
    SshServer sshd(ferry_serve_command("ferry-remote"));
    auto m = machine(spec_for(sshd));
    expect_cancel_stops_build(*m);
}

TEST_F(SshMachineTest, FerryServeUploadsAndBuilds) {
    SshServer sshd(ferry_serve_command("ferry-remote"));
    auto m = machine(spec_for(sshd));
    upload_and_build(*m, {kHelloDrv, kMultiDrv, kUsesTextDrv});
    // AddToStoreNar (2.5+) carried the content address and the signatures.
    auto info = served_info("ferry-remote", kPlainPath);
    EXPECT_EQ(info.ca, local_info(kPlainPath).ca);
    EXPECT_TRUE(info.ca);
    EXPECT_EQ(info.signatures, local_info(kPlainPath).signatures);
    auto t = compat_job(kHelloDrv);
    EXPECT_EQ(run(m->query_valid({t->job.outputs.at("out")}, false)).size(), 1u);
}

TEST_F(SshMachineTest, FerryServeKillsASilentBuildWithTheMaxSilentTimeSent) {
    SshServer sshd(ferry_serve_command("ferry-remote"));
    auto m = machine(spec_for(sshd));
    expect_silent_build_killed(*m);
}

TEST_F(SshMachineTest, ConnectionsArePooledUpToMaxJobs) {
    SshServer sshd(nix_serve_command("nix-remote") + "; echo connection >> " +
                   (work_.path() / "count").string());
    auto m = machine(spec_for(sshd, 2));
    // One query alone first: it creates the machine's store, which two nix-store processes starting at
    // once on an empty store could both try to do.
    EXPECT_TRUE(run(m->query_valid({dir_.parse(kBusyboxPath)}, false)).empty());
    auto many = [&]() -> asio::awaitable<void> {
        for (int round = 0; round < 3; ++round) {
            std::vector<std::future<StorePathSet>> futs;
            for (int i = 0; i < 4; ++i)
                futs.push_back(
                    asio::co_spawn(io_, m->query_valid({dir_.parse(kBusyboxPath)}, false), asio::use_future));
            asio::steady_timer t(io_);
            for (auto& f : futs)
                while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
                    t.expires_after(std::chrono::milliseconds(5));
                    co_await t.async_wait(asio::use_awaitable);
                }
            for (auto& f : futs)
                f.get(); // a failed query would have dropped its connection: say why
        }
    };
    run(many());
    m.reset(); // closes the connections; the forced command then ends
    for (int i = 0; i < 100 && !fs::exists(work_.path() / "count"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto lines = read_file(work_.path() / "count");
    EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
}

TEST_F(SshMachineTest, RemoteProgramAndRemoteStoreReachTheMachine) {
    // The forced command records what the client asked for, then serves as asked.
    fs::path asked = work_.path() / "asked";
    SshServer sshd("echo \"$SSH_ORIGINAL_COMMAND\" > " + asked.string() + "; " +
                   nix_serve_command("nix-remote"));
    auto spec = spec_for(sshd);
    spec.uri += "?remote-program=/usr/bin/nix-store&remote-store=/srv/the%20store";
    auto m = machine(spec);
    EXPECT_TRUE(run(m->query_valid({dir_.parse(kBusyboxPath)}, false)).empty());
    EXPECT_EQ(read_file(asked), "/usr/bin/nix-store --serve --write --store '/srv/the store'\n");
}

// Figures: the first call opens the connection (ssh, key exchange, the remote program's start, the
// greeting); later calls reuse it and cost one round trip of the protocol.
TEST_F(SshMachineTest, KeptConnectionCostsOneRoundTrip) {
    for (const char* server : {"nix-store", "ferry"}) {
        SshServer sshd(std::string(server) == "ferry" ? ferry_serve_command("ferry-remote")
                                                      : nix_serve_command("nix-remote"));
        auto m = machine(spec_for(sshd));
        StorePathSet paths{dir_.parse(kBusyboxPath)};
        auto t0 = std::chrono::steady_clock::now();
        run(m->query_valid(paths, false));
        auto t1 = std::chrono::steady_clock::now();
        constexpr int kCalls = 200;
        for (int i = 0; i < kCalls; ++i)
            run(m->query_valid(paths, false));
        auto t2 = std::chrono::steady_clock::now();
        double open_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        double call_ms = std::chrono::duration<double, std::milli>(t2 - t1).count() / kCalls;
        std::printf("[ figures  ] %s --serve over ssh: first call (connect) %.1f ms, then %.3f ms per call\n",
                    server, open_ms, call_ms);
        EXPECT_LT(call_ms, 20.0); // kept open: no ssh set-up per call
    }
}

TEST_F(SshMachineTest, UnreachableMachineIsDown) {
    SshServer sshd("true");
    auto spec = spec_for(sshd);
    sshd.stop();
    auto m = machine(spec);
    expect_machine_down(*m, "Connection refused");
}

TEST_F(SshMachineTest, KeptConnectionWhoseSessionDiedIsNotUsed) {
    // The machine's sessions end (its sshd restarted, a dropped link) while the machine stays up: the
    // next request opens a new connection instead of failing on the dead one and calling the machine
    // down.
    SshServer sshd(nix_serve_command("nix-remote"));
    auto m = machine(spec_for(sshd));
    StorePathSet inputs{dir_.parse(kBusyboxPath)};
    EXPECT_TRUE(run(m->query_valid(inputs, false)).empty());
    sshd.kill_sessions();
    // Until the kept connection's ssh has seen its end and exited.
    auto ssh_running = [] {
        auto ps = shell_output("ps -o stat=,comm= --ppid " + std::to_string(::getpid()) +
                               " | awk '$2 == \"ssh\" && $1 !~ /^Z/'");
        return !ps || !ps->empty();
    };
    for (int i = 0; i < 250 && ssh_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(ssh_running());
    EXPECT_TRUE(run(m->query_valid(inputs, false)).empty());
}

class FakePeerTest : public SshMachineTest {
protected:
    std::unique_ptr<RemoteMachine> fake(const std::string& mode) {
        ::setenv("FERRY_FAKE_PEER", mode.c_str(), 1);
        MachineSpec spec;
        spec.uri = "ssh://fake@127.0.0.1";
        spec.systems = {"x86_64-linux"};
        return machine(spec, (test_data_dir().parent_path() / "remote" / "fake_peer.py").string());
    }
    void TearDown() override { ::unsetenv("FERRY_FAKE_PEER"); }
};

TEST_F(FakePeerTest, WrongMagicIsMachineDown) {
    auto m = fake("wrong-magic");
    expect_machine_down(*m, "protocol mismatch: magic 0x12345678");
}

TEST_F(FakePeerTest, OldVersionIsMachineDown) {
    auto m = fake("version:0x201");
    expect_machine_down(*m, "unsupported 'nix-store --serve' protocol version 2.1");
    auto m3 = fake("version:0x307");
    expect_machine_down(*m3, "version 3.7");
}

TEST_F(FakePeerTest, GarbageIsMachineDown) {
    auto m = fake("garbage");
    expect_machine_down(*m, "protocol mismatch");
}

// A 2.4 peer (here ferry serve, both sides told 2.4): paths go with ImportPaths, not AddToStoreNar; the
// settings stop at max-log-size/repeats, the BuildResult before builtOutputs.
TEST_F(FakePeerTest, VersionTwoFourUsesImportPaths) {
    ::setenv("FERRY_FAKE_SERVER", ferry_serve_command("ferry-old").c_str(), 1);
    auto m = fake("downgrade:0x204");
    upload_and_build(*m, {kHelloDrv, kUsesTextDrv});
    ::unsetenv("FERRY_FAKE_SERVER");
    // The export format carries neither the content address nor the signatures that AddToStoreNar has.
    auto info = served_info("ferry-old", kPlainPath);
    EXPECT_FALSE(info.ca);
    EXPECT_TRUE(info.signatures.empty());
}

TEST_F(FakePeerTest, CorruptNarIsRefusedAndNothingIsStaged) {
    for (const char* flip : {"24", "40"}) {
        auto t = compat_job(kHelloDrv);
        auto out = dir_.print(t->job.outputs.at("out"));
        auto entry = fixture_info(out);
        ::setenv("FERRY_FAKE_NAR", compat_nar(entry).c_str(), 1);
        ::setenv("FERRY_FAKE_HASH", to_path_info(dir_, entry).nar_hash.to_nix32_prefixed().c_str(), 1);
        ::setenv("FERRY_FAKE_FLIP", flip, 1);
        auto m = fake("corrupt-nar");
        try {
            run(m->build(t->job, *view_));
            FAIL() << "a corrupt NAR was accepted";
        } catch (const MachineDown& e) {
            EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
        }
        EXPECT_TRUE(local_.staging_leftovers().empty());
        EXPECT_FALSE(local_->is_valid_path(t->job.outputs.at("out")));
    }
}

// A build's log comes through standard error and its result through standard output, and nothing orders
// the two pipes: lines that arrive after the result, while the outputs are fetched, are in the build's log
// all the same (they went missing in 1 build in 50 of bench/remote when the log was let go as soon as the
// result was read).
TEST_F(FakePeerTest, LogWrittenJustAfterTheResultIsInTheBuildsLog) {
    auto t = compat_job(kHelloDrv);
    auto entry = fixture_info(dir_.print(t->job.outputs.at("out")));
    ::setenv("FERRY_FAKE_NAR", compat_nar(entry).c_str(), 1);
    ::setenv("FERRY_FAKE_HASH", to_path_info(dir_, entry).nar_hash.to_nix32_prefixed().c_str(), 1);
    ::setenv("FERRY_FAKE_LOG", "the builder's last words\n", 1);
    auto m = fake("built");
    for (int i = 0; i < 3; ++i) {
        t->log.clear();
        auto trees = run(m->build(t->job, *view_));
        ASSERT_EQ(trees.size(), 1u);
        EXPECT_EQ(t->log, "the builder's last words\n") << "build " << i;
    }
    ::unsetenv("FERRY_FAKE_LOG");
}

} // namespace
} // namespace ferry::test
