// The builder process on its own: clone into namespaces, typed child errors, exit statuses, kill.
#include "ferry/sandbox/sandbox_process.hh"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "ferry/sandbox/build_monitor.hh"
#include "ferry/sandbox/namespace_support.hh"

using namespace ferry;
namespace asio = boost::asio;

namespace {

/// The namespaces of a build (the child's set-up names the host, brings up `lo`: it needs them all).
constexpr unsigned long kNamespaces =
    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

struct Run {
    ExitStatus status;
    std::vector<ChildReport> reports;
};

/// Spawns `program` into fresh namespaces and collects its reports and exit status.
Run spawn_and_wait(ChildProgram& program) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd read_side(fds[0]), write_side(fds[1]);
    program.status_fd = write_side.get();
    program.log_fd = write_side.get();
    program.finalize();
    asio::io_context io;
    Run run;
    auto process = SandboxProcess::spawn(io.get_executor(), program, kNamespaces);
    write_side.reset();
    asio::posix::stream_descriptor status(io, read_side.release());
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            run.reports = co_await read_child_reports(status);
            run.status = co_await process.wait();
        },
        asio::detached);
    io.run();
    return run;
}

ChildProgram base_program() {
    ChildProgram program;
    program.uid_map = "1000 " + std::to_string(::geteuid()) + " 1";
    program.gid_map = "100 " + std::to_string(::getegid()) + " 1";
    program.cwd = "/";
    program.builder = "/bin/true";
    program.args = {"true"};
    return program;
}

} // namespace

TEST(SandboxProcess, NamespacesAreAvailable) {
    const auto& support = sandbox_namespace_support();
    ASSERT_TRUE(support.available) << support.problem;
    EXPECT_NE(user_namespace_sysctls().find("user.max_user_namespaces = "), std::string::npos);
}

TEST(SandboxProcess, FailedMountIsReportedWithItsIndexAndErrno) {
    auto program = base_program();
    program.mounts = {{MountOp::Kind::make_private, "", "/", MS_REC | MS_PRIVATE, ""},
                      {MountOp::Kind::bind, "/nonexistent/ferry-source", "/tmp", MS_BIND, ""}};
    auto run = spawn_and_wait(program);
    ASSERT_EQ(run.reports.size(), 1u);
    const auto& report = run.reports[0];
    EXPECT_EQ(report.kind, ChildReport::failed);
    EXPECT_EQ(report.step, ChildStep::mount);
    EXPECT_EQ(report.op_index, 1);
    EXPECT_EQ(report.errnum, ENOENT);
    EXPECT_EQ(describe_child_step(report, program), "bind-mounting '/nonexistent/ferry-source' on '/tmp'");
    EXPECT_EQ(child_step_path(report, program), "/tmp");
    EXPECT_EQ(run.status.describe(), "failed with exit code 1");
}

TEST(SandboxProcess, ExecSuccessClosesTheStatusPipe) {
    auto program = base_program();
    auto run = spawn_and_wait(program);
    ASSERT_EQ(run.reports.size(), 1u);
    EXPECT_EQ(run.reports[0].kind, ChildReport::exec_ready);
    EXPECT_TRUE(run.status.success());
    EXPECT_EQ(run.status.describe(), "succeeded");
}

TEST(SandboxProcess, KillIsReportedAsASignal) {
    auto program = base_program();
    program.builder = "/bin/sleep";
    program.args = {"sleep", "100"};
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd read_side(fds[0]), write_side(fds[1]);
    // The builder's output goes elsewhere, so the status pipe closes at exec.
    UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    program.status_fd = write_side.get();
    program.log_fd = devnull.get();
    program.finalize();
    asio::io_context io;
    auto process = SandboxProcess::spawn(io.get_executor(), program, kNamespaces);
    write_side.reset();
    asio::posix::stream_descriptor status_pipe(io, read_side.release());
    std::vector<ChildReport> reports;
    ExitStatus status;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            // Killed once it runs the builder (the status pipe closes at exec), not during its set-up.
            reports = co_await read_child_reports(status_pipe);
            process.kill();
            status = co_await process.wait();
        },
        asio::detached);
    io.run();
    ASSERT_EQ(reports.size(), 1u);
    ASSERT_EQ(reports[0].kind, ChildReport::exec_ready)
        << "set-up failed at step " << int(reports[0].step) << ": " << ::strerror(reports[0].errnum);
    EXPECT_FALSE(status.exited) << status.describe();
    EXPECT_EQ(status.signal, SIGKILL);
    EXPECT_EQ(status.describe(), "failed due to signal 9 (Killed)");
}
