#pragma once
/// The builder process: cloned into its namespaces, owned through a pidfd, watched from the event loop.
/// The pidfd becomes readable when the process has exited (for the PID 1 of a namespace: after every
/// other process in it has been killed), then waitid(P_PIDFD) reaps it without blocking.

#include <sys/types.h>

#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "ferry/sandbox/child_setup.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// How a process ended.
struct ExitStatus {
    bool exited = false; ///< exited normally (code valid); otherwise killed by `signal`
    int code = 0;
    int signal = 0;

    bool success() const { return exited && code == 0; }
    /// As Nix words it: "failed with exit code 3", "failed due to signal 9 (Killed)", "succeeded".
    std::string describe() const;
};

/// clone3() with `flags` (CLONE_NEW* …) plus CLONE_PIDFD and no exit signal, so no waitpid(-1) elsewhere
/// in the process can reap it. Returns 0 in the child and the child's pid in the parent, where `pidfd`
/// receives its pidfd (CLOEXEC). Like fork(), the child is a copy of the calling thread only. As root, the
/// child starts without supplementary groups (Nix drops them before its clone). Throws SysError.
pid_t clone_with_pidfd(unsigned long flags, UniqueFd& pidfd);

/// A process started in new namespaces, running run_child(). Used from one thread, the io_context thread
/// of the executor it was spawned with; the child has PR_SET_PDEATHSIG(SIGKILL), so it also dies when
/// that thread exits. Destroying it while the process runs kills the process and reaps
/// it (a short blocking wait: a SIGKILLed PID 1 exits promptly), so no build outlives its owner.
class SandboxProcess {
public:
    /// Starts the child, which runs run_child(program) on its own copy of this process's memory (clone3
    /// without CLONE_VM), so `program` need only live through this call. Throws SysError when clone3
    /// fails.
    static SandboxProcess spawn(const boost::asio::any_io_executor& executor, const ChildProgram& program,
                                unsigned long namespaces);

    SandboxProcess(SandboxProcess&&) noexcept = default;
    SandboxProcess& operator=(SandboxProcess&&) = delete;
    ~SandboxProcess();

    pid_t pid() const { return pid_; }
    bool reaped() const { return status_.has_value(); }

    /// SIGKILL through the pidfd; a no-op once reaped. PID 1 of a PID namespace takes every other process
    /// of the namespace with it.
    void kill() noexcept;
    /// Waits without blocking the loop until the process has exited, reaps it and returns how it ended;
    /// returns at once when already reaped. When `cancellable`, cancellation of the awaiting coroutine
    /// ends the wait (the process keeps running); otherwise the wait ignores it (for the reap after a
    /// kill; the caller also turns off throw_if_cancelled).
    boost::asio::awaitable<ExitStatus> wait(bool cancellable = true);

private:
    SandboxProcess(const boost::asio::any_io_executor& executor, pid_t pid, UniqueFd pidfd);
    /// waitid(P_PIDFD, WNOHANG): the status once the process has exited.
    std::optional<ExitStatus> try_reap(bool block);

    pid_t pid_ = -1;
    std::optional<boost::asio::posix::stream_descriptor> pidfd_;
    std::optional<ExitStatus> status_;
};

} // namespace ferry
