#pragma once
/// Running a builder process to completion from the event loop, shared by the sandbox and the
/// unsandboxed builder: clone with the given namespaces, pump the log into the job's callback, enforce
/// max-silent-time and timeout, read the child's set-up reports, and always kill and reap the process
/// before returning (also after cancellation). Then turn the outcome into the BuildError it stands for.

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "ferry/sandbox/build_monitor.hh"
#include "ferry/sandbox/child_setup.hh"
#include "ferry/sandbox/sandbox_process.hh"
#include "ferry/sched/builder.hh"

namespace ferry {

/// How a supervised build ended: it exited, a limit was hit, watching it failed, or the awaiting
/// coroutine was cancelled.
struct Supervision {
    std::optional<ExitStatus> exit;
    std::vector<ChildReport> reports;
    std::optional<LimitHit> limit;
    std::exception_ptr error;
    bool cancelled = false;
    /// From clone() to the exec of the builder, as the child measured it (0 when it never got there).
    std::chrono::nanoseconds setup_time{0};
};

struct SupervisedRunOptions {
    /// CLONE_NEW* flags of the child.
    unsigned long namespaces = 0;
    /// Called with the child's pid when it has exited, before the log is drained: the unsandboxed
    /// builder kills the processes it left behind there (the sandbox's PID namespace does that itself).
    std::function<void(pid_t)> on_exit;
    /// "sandbox" or "build process", for "cannot start the … for '…'".
    std::string what = "sandbox";
};

/// Runs `program` (its log_fd and status_fd are set here) for `job`. Never leaves the process running.
/// Throws BuildError when the process cannot be started.
boost::asio::awaitable<Supervision> run_supervised(ChildProgram& program, const BuildJob& job,
                                                   const SupervisedRunOptions& options);

/// Throws what `outcome` stands for: operation_aborted after cancellation, BuildTimedOut for a limit,
/// SandboxSetupError for a failed set-up step, BuildError for a non-zero exit. `keep` is called only
/// for failures and returns a note to append (keep-failed). Returns normally for a successful build.
void throw_on_failure(const BuildJob& job, const Supervision& outcome, const ChildProgram& program,
                      const std::function<std::string()>& keep);

} // namespace ferry
