// SandboxBuilder in real namespaces: outcomes (success, exit codes, set-up errors), limits, cancellation,
// what happens to processes left behind, keep-failed, --check-style rebuilds, options.
#include "ferry/sandbox/sandbox_builder.hh"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/sandbox_setup.hh"
#include "ferry/store/staged_path.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

/// A number no other process on the host has on its command line, so the tests (which may run twice
/// at once, as root and as another user) can find the processes their builds started.
std::string unique_sleep_seconds() {
    std::random_device rd;
    return std::to_string(900000 + ::getpid() % 1000 * 100 + rd() % 100);
}

std::string busybox() {
    return std::string("/nix/store/") + kBusyboxBase + "/bin/busybox";
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

TEST(SandboxBuilder, BuildsAnOutputIntoScratchSpace) {
    FakeStore store;
    auto drv = store.shell_derivation("hello-text", "echo hello > $out");
    std::string log;
    auto job = store.job(drv, &log);
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    auto* sandboxed = dynamic_cast<SandboxBuiltOutputs*>(out.get());
    ASSERT_NE(sandboxed, nullptr);
    fs::path location = out->locations.at("out");
    EXPECT_EQ(read_file(location), "hello\n");
    EXPECT_EQ(location,
              sandboxed->sandbox_root() / "nix/store" / fs::path(drv.outputs.at("out").path).filename());
    EXPECT_GT(sandboxed->setup_time().count(), 0);
    EXPECT_FALSE(fs::exists(store.real_store_dir() / fs::path(drv.outputs.at("out").path).filename()));
    out.reset();
    EXPECT_TRUE(store.clean()) << "destroying the outputs removes the scratch space";
}

TEST(SandboxBuilder, MultipleOutputsAndPassAsFile) {
    FakeStore store;
    auto drv = store.shell_derivation(
        "multi", "cat $bigTextPath > $out; ls -la /build | awk '{print $1, $NF}' > $dev",
        {{"bigText", "line1\nline2\n"}, {"passAsFile", "bigText"}}, {"out", "dev"});
    auto job = store.job(drv);
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    EXPECT_EQ(read_file(out->locations.at("out")), "line1\nline2\n");
    EXPECT_EQ(read_file(out->locations.at("dev")),
              "total 12\ndrwx------ .\ndrwxr-x--- ..\n-rw-r--r-- "
              ".attr-1df9jhyajhb0gqqsh06ln0s7kwdiigwm70jiggd8g8kchq8ygd32\n");
}

TEST(SandboxBuilder, FailingBuilderNamesTheDerivationAndExitCode) {
    FakeStore store;
    auto drv = store.shell_derivation("fails", "echo about to fail; exit 3");
    std::string log;
    auto job = store.job(drv, &log);
    SandboxBuilder builder(store.options());
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const BuildError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "builder for '" + store.store_dir().print(job.drv_path) + "' failed with exit code 3");
    }
    EXPECT_EQ(log, "about to fail\n");
    EXPECT_TRUE(store.clean());
}

TEST(SandboxBuilder, KeepFailedKeepsAndNamesTheBuildDirectory) {
    FakeStore store;
    auto drv = store.shell_derivation("kept", "echo partial > /build/marker; exit 2");
    auto job = store.job(drv);
    job.keep_failed = true;
    SandboxBuilder builder(store.options());
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const BuildError& e) {
        std::string message = e.what();
        auto start = message.find("keeping build directory '");
        ASSERT_NE(start, std::string::npos) << message;
        start += std::string("keeping build directory '").size();
        fs::path kept = message.substr(start, message.find('\'', start) - start);
        EXPECT_EQ(read_file(kept / "marker"), "partial\n");
        EXPECT_EQ(fs::status(kept).permissions(), fs::perms(0755));
        EXPECT_EQ(kept.parent_path(), store.tmp());
        delete_path(kept);
    }
    EXPECT_TRUE(store.clean()) << "only the build directory is kept";
}

TEST(SandboxBuilder, MissingBuilderIsATypedSetupError) {
    FakeStore store;
    auto drv = store.shell_derivation("no-builder", "true");
    drv.builder = "/nix/store/" + std::string(kBusyboxBase) + "/bin/missing";
    auto job = store.job(drv);
    SandboxBuilder builder(store.options());
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const SandboxSetupError& e) {
        EXPECT_EQ(e.errnum(), ENOENT);
        EXPECT_EQ(e.path(), drv.builder);
        EXPECT_NE(std::string(e.what()).find("executing '" + drv.builder + "': No such file or directory"),
                  std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(store.store_dir().print(job.drv_path)), std::string::npos);
    }
    EXPECT_TRUE(store.clean());
}

TEST(SandboxBuilder, MissingInputIsNamed) {
    FakeStore store;
    auto drv = store.shell_derivation("needs-input", "true");
    auto job = store.job(drv);
    job.input_closure.insert(StorePath("00000000000000000000000000000000-absent"));
    SandboxBuilder builder(store.options());
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const SandboxError& e) {
        EXPECT_NE(std::string(e.what()).find("'/nix/store/00000000000000000000000000000000-absent'"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_TRUE(store.clean());
}

TEST(SandboxBuilder, DaemonsDieWithTheBuild) {
    FakeStore store;
    auto seconds = unique_sleep_seconds();
    // The builder leaves the daemon running for half a second after saying so; the host looks for it
    // meanwhile (it may still be between fork and exec at first).
    auto drv = store.shell_derivation("daemon", busybox() + " sleep " + seconds +
                                                    " & echo started; usleep 500000; echo ok > $out");
    size_t seen_during_build = 0;
    auto job = store.job(drv);
    job.log = [&](std::string_view chunk) {
        if (chunk.find("started") == std::string_view::npos) return;
        for (int i = 0; i < 40 && seen_during_build == 0; ++i) {
            seen_during_build = processes_with_argument(seconds).size();
            if (seen_during_build == 0) ::usleep(10000);
        }
    };
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    EXPECT_EQ(seen_during_build, 1u) << "the daemon was not visible on the host while the build ran";
    EXPECT_TRUE(processes_with_argument(seconds).empty()) << "the daemon outlived the build";
}

TEST(SandboxBuilder, MaxSilentTimeKillsAHangingBuild) {
    FakeStore store;
    auto seconds = unique_sleep_seconds();
    auto drv = store.shell_derivation("hangs", "echo working; " + busybox() + " sleep " + seconds);
    auto job = store.job(drv);
    job.max_silent_time = 1;
    SandboxBuilder builder(store.options());
    auto start = Clock::now();
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const BuildTimedOut& e) {
        EXPECT_EQ(std::string(e.what()), "building '" + store.store_dir().print(job.drv_path) +
                                             "' timed out after 1 seconds of silence");
    }
    EXPECT_GE(seconds_since(start), 1.0);
    EXPECT_LT(seconds_since(start), 5.0);
    EXPECT_TRUE(processes_with_argument(seconds).empty());
    EXPECT_TRUE(store.clean());
}

TEST(SandboxBuilder, TimeoutKillsABuildThatKeepsTalking) {
    FakeStore store;
    auto drv = store.shell_derivation("talks", "while true; do echo tick; usleep 100000; done");
    auto job = store.job(drv);
    job.timeout = 1;
    job.max_silent_time = 1;
    SandboxBuilder builder(store.options());
    auto start = Clock::now();
    try {
        run_build(builder, job);
        FAIL() << "the build succeeded";
    } catch (const BuildTimedOut& e) {
        EXPECT_EQ(std::string(e.what()),
                  "building '" + store.store_dir().print(job.drv_path) + "' timed out after 1 seconds");
    }
    EXPECT_LT(seconds_since(start), 5.0);
}

TEST(SandboxBuilder, CancellationKillsTheBuildPromptly) {
    FakeStore store;
    auto seconds = unique_sleep_seconds();
    auto drv = store.shell_derivation("cancelled", "echo started; " + busybox() + " sleep " + seconds);
    auto job = store.job(drv);
    boost::asio::io_context io;
    boost::asio::cancellation_signal cancel;
    Clock::time_point cancelled_at;
    job.log = [&](std::string_view chunk) {
        if (chunk.find("started") == std::string_view::npos) return;
        boost::asio::post(io, [&] {
            cancelled_at = Clock::now();
            cancel.emit(boost::asio::cancellation_type::terminal);
        });
    };
    SandboxBuilder builder(store.options());
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(io, builder.build(job),
                          boost::asio::bind_cancellation_slot(
                              cancel.slot(), [&](std::exception_ptr e, std::unique_ptr<BuiltOutputs>) {
                                  error = e;
                                  done = true;
                              }));
    io.run_for(std::chrono::seconds(20));
    ASSERT_TRUE(done) << "the build did not end after cancellation";
    EXPECT_LT(seconds_since(cancelled_at), 2.0);
    ASSERT_TRUE(error);
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
        EXPECT_EQ(e.code(), boost::asio::error::operation_aborted);
    }
    EXPECT_TRUE(processes_with_argument(seconds).empty()) << "the builder survived cancellation";
    EXPECT_TRUE(store.clean());
}

TEST(SandboxBuilder, CheckRebuildNeverSeesOrTouchesTheValidOutput) {
    FakeStore store;
    auto drv = store.shell_derivation("checked", "if test -e $out; then echo visible; fi; echo new > $out");
    auto valid = store.real_store_dir() / fs::path(drv.outputs.at("out").path).filename();
    write_file_atomic(valid, "old\n");
    auto job = store.job(drv);
    job.input_closure.insert(job.outputs.at("out")); // as when the output is in a sandbox path's closure
    std::string log;
    job.log = [&](std::string_view chunk) { log.append(chunk); };
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    EXPECT_EQ(read_file(out->locations.at("out")), "new\n");
    EXPECT_EQ(read_file(valid), "old\n");
    EXPECT_EQ(log, "");
}

TEST(SandboxBuilder, SpecLeavesTheOutputsOutOfTheInputs) {
    FakeStore store;
    auto drv = store.shell_derivation("spec", "true");
    auto job = store.job(drv);
    job.input_closure.insert(job.outputs.at("out"));
    write_file_atomic(store.real_store_dir() / job.outputs.at("out").to_string(), "x");
    auto spec = make_sandbox_spec(job, SandboxOptions{}, HostFacts{}, "/r", "/b");
    ASSERT_EQ(spec.inputs.size(), 1u);
    EXPECT_EQ(spec.inputs[0].base_name, kBusyboxBase);
    EXPECT_TRUE(spec.private_network);
}

TEST(SandboxBuilder, SandboxPathsAreVisible) {
    FakeStore store;
    fs::create_directories(store.path() / "host-dir");
    write_file_atomic(store.path() / "host-dir/file", "from the host\n");
    auto drv = store.shell_derivation("sandbox-paths",
                                      "cat /opt/shared/file > $out; test -e /missing || echo ok >> $out");
    auto job = store.job(drv);
    auto options = store.options();
    options.sandbox_paths = {"/opt/shared=" + (store.path() / "host-dir").string(), "/missing?"};
    SandboxBuilder builder(options);
    auto out = run_build(builder, job);
    EXPECT_EQ(read_file(out->locations.at("out")), "from the host\nok\n");

    options.sandbox_paths = {"/missing=/nonexistent/ferry-test"};
    SandboxBuilder strict(options);
    EXPECT_THROW(run_build(strict, job), SandboxError);
}

TEST(SandboxBuilder, FixedOutputDerivationKeepsTheHostNetwork) {
    FakeStore store;
    HostListener listener;
    std::string expected = "exit 0\nhosts: files dns\nservices: files\n";
    if (fs::exists("/etc/hosts")) expected += "hosts\n";
    auto drv =
        store.fixed_output_derivation("fixed",
                                      "echo hello | nc -w 2 127.0.0.1 " + std::to_string(listener.port()) +
                                          "; echo \"exit $?\" > $out; cat /etc/nsswitch.conf >> $out; test "
                                          "-e /etc/hosts && echo hosts >> $out",
                                      expected);
    ASSERT_TRUE(drv.is_fixed_output());
    auto job = store.job(drv);
    auto received = listener.serve_once(20);
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    EXPECT_EQ(read_file(out->locations.at("out")), expected);
    EXPECT_EQ(received.get(), "hello\n");
}

TEST(SandboxBuilder, ImpersonateLinux26) {
    FakeStore store;
    auto drv = store.shell_derivation("uname", "uname -r > $out");
    auto job = store.job(drv);
    auto options = store.options();
    options.impersonate_linux_26 = true;
    SandboxBuilder old_kernel(options);
    EXPECT_EQ(read_file(run_build(old_kernel, job)->locations.at("out")).rfind("2.6.", 0), 0u);

    utsname uts{};
    ::uname(&uts);
    SandboxBuilder plain;
    EXPECT_EQ(read_file(run_build(plain, job)->locations.at("out")), std::string(uts.release) + "\n");
}

TEST(SandboxBuilder, NoChrootIsRefusedWhenSandboxIsTrue) {
    FakeStore store;
    auto drv = store.shell_derivation("no-chroot", "true", {{"__noChroot", "1"}});
    auto job = store.job(drv);
    SandboxBuilder builder(store.options());
    EXPECT_THROW(run_build(builder, job), SandboxError);
}

TEST(SandboxBuilder, StoreCleanupLeavesARunningBuildAlone) {
    FakeStore store;
    auto drv = store.shell_derivation("long", "echo started; usleep 300000; echo done > $out");
    auto job = store.job(drv);
    size_t removed = 1;
    job.log = [&](std::string_view chunk) {
        // What a second process opening the store does: clean staging directories nobody holds.
        if (chunk.find("started") != std::string_view::npos) removed = clean_stale_staging(store.scratch());
    };
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    EXPECT_EQ(removed, 0u);
    EXPECT_EQ(read_file(out->locations.at("out")), "done\n");
}
