#include "ferry/sandbox/supervised_run.hh"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>

#include "ferry/sandbox/namespace_support.hh"
#include "ferry/sandbox/sandbox_error.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

int64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

/// A CLOEXEC pipe whose ends are above 2, so the child's dup2() onto stdout/stderr always makes a new
/// descriptor without close-on-exec.
Pipe make_pipe(const char* what) {
    int fds[2];
    check_sys(::pipe2(fds, O_CLOEXEC), std::string("creating the ") + what + " pipe");
    Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
    for (UniqueFd* end : {&pipe.read, &pipe.write})
        if (end->get() <= STDERR_FILENO)
            end->reset(check_sys(::fcntl(end->get(), F_DUPFD_CLOEXEC, 3),
                                 std::string("moving the ") + what + " pipe"));
    return pipe;
}

asio::awaitable<ExitStatus> wait_then(SandboxProcess& process, const std::function<void(pid_t)>& on_exit) {
    auto status = co_await process.wait();
    if (on_exit) on_exit(process.pid());
    co_return status;
}

/// The exit, the whole log and the set-up reports. When one of the three fails, the others are cancelled
/// and the first failure is thrown: the cause, rather than Asio's "multiple exceptions" when the others
/// fail in turn (a full disk fails the log and the builder at once).
asio::awaitable<std::tuple<ExitStatus, std::vector<ChildReport>>>
run_to_exit(SandboxProcess& process, BuildMonitor& monitor, asio::posix::stream_descriptor& status,
            const std::function<void(pid_t)>& on_exit) {
    auto executor = co_await asio::this_coro::executor;
    auto [order, exit_error, exit, log_error, reports_error, reports] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(executor, wait_then(process, on_exit), asio::deferred),
            asio::co_spawn(executor, monitor.pump_log(), asio::deferred),
            asio::co_spawn(executor, read_child_reports(status), asio::deferred))
            .async_wait(asio::experimental::wait_for_one_error(), asio::deferred);
    const std::exception_ptr errors[] = {exit_error, log_error, reports_error};
    for (auto i : order)
        if (errors[i]) std::rethrow_exception(errors[i]);
    co_return std::make_tuple(exit, std::move(reports));
}

asio::awaitable<Supervision> supervise(SandboxProcess& process, BuildMonitor& monitor,
                                       asio::posix::stream_descriptor& status,
                                       const std::function<void(pid_t)>& on_exit) {
    auto executor = co_await asio::this_coro::executor;
    auto [order, main_error, result, limit_error, limit] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(executor, run_to_exit(process, monitor, status, on_exit), asio::deferred),
            asio::co_spawn(executor, monitor.watch_limits(), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::deferred);
    Supervision s;
    auto state = co_await asio::this_coro::cancellation_state;
    s.cancelled = state.cancelled() != asio::cancellation_type::none;
    if (order[0] == 0 && !main_error) {
        s.exit = std::get<0>(result);
        s.reports = std::move(std::get<1>(result));
    } else if (order[0] == 1 && !limit_error) {
        s.limit = limit;
    } else {
        s.error = order[0] == 0 ? main_error : limit_error;
    }
    co_return s;
}

/// Kills the build and reaps it, ignoring cancellation: the scratch space can only go once no process
/// uses it. The caller has turned off throw_if_cancelled.
asio::awaitable<void> kill_and_reap(SandboxProcess& process) {
    process.kill();
    co_await process.wait(false);
}

const ChildReport* find_report(const std::vector<ChildReport>& reports, uint32_t kind) {
    for (const auto& r : reports)
        if (r.kind == kind) return &r;
    return nullptr;
}

SandboxProcess spawn(const asio::any_io_executor& executor, const ChildProgram& program,
                     const SupervisedRunOptions& options, const std::string& drv) {
    try {
        return SandboxProcess::spawn(executor, program, options.namespaces);
    } catch (const SysError& e) {
        throw SandboxError("cannot start the {} for '{}': {} ({})", options.what, drv, e.message(),
                           user_namespace_sysctls());
    }
}

} // namespace

asio::awaitable<Supervision> run_supervised(ChildProgram& program, const BuildJob& job,
                                            const SupervisedRunOptions& options) {
    auto drv = job.store_dir.print(job.drv_path);
    auto log_pipe = make_pipe("log");
    auto status_pipe = make_pipe("status");
    program.log_fd = log_pipe.write.get();
    program.status_fd = status_pipe.write.get();

    auto executor = co_await asio::this_coro::executor;
    // Cancelled before the process exists: nothing to kill yet.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted, "building '" + drv + "'");
    int64_t started = monotonic_ns();
    auto process = spawn(executor, program, options, drv);
    log_pipe.write.reset();
    status_pipe.write.reset();

    BuildMonitor monitor(executor, std::move(log_pipe.read), job.max_silent_time, job.timeout, job.log,
                         job.max_log_size, job.log_wait);
    asio::posix::stream_descriptor status(executor, status_pipe.read.release());
    auto outcome = co_await supervise(process, monitor, status, options.on_exit);
    if (!process.reaped() || options.on_exit) {
        // Also after cancellation: a co_await would otherwise throw at once, leaving the process to the
        // destructor's blocking reap.
        bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
        co_await asio::this_coro::throw_if_cancelled(false);
        if (!process.reaped()) co_await kill_and_reap(process);
        if (options.on_exit) options.on_exit(process.pid());
        co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
    }
    if (auto ready = find_report(outcome.reports, ChildReport::exec_ready))
        outcome.setup_time = std::chrono::nanoseconds(ready->monotonic_ns - started);
    co_return outcome;
}

void throw_on_failure(const BuildJob& job, const Supervision& outcome, const ChildProgram& program,
                      const std::function<std::string()>& keep) {
    auto drv = job.store_dir.print(job.drv_path);
    if (outcome.cancelled)
        throw boost::system::system_error(asio::error::operation_aborted, "building '" + drv + "'");
    if (outcome.error) {
        try {
            std::rethrow_exception(outcome.error);
        } catch (const BuildError&) {
            throw;
        } catch (const std::exception& e) {
            throw BuildError("while watching the build of '{}': {}", drv, e.what());
        }
    }
    if (outcome.limit) {
        auto kept = keep();
        if (*outcome.limit == LimitHit::log_size)
            throw LogLimitExceeded(
                "building of '{}!*' from .drv file killed after writing more than {} bytes "
                "of log output{}",
                drv, job.max_log_size, kept);
        if (*outcome.limit == LimitHit::silence)
            throw BuildTimedOut("building '{}' timed out after {} seconds of silence{}", drv,
                                job.max_silent_time, kept);
        throw BuildTimedOut("building '{}' timed out after {} seconds{}", drv, job.timeout, kept);
    }
    if (auto failure = find_report(outcome.reports, ChildReport::failed)) {
        auto step = describe_child_step(*failure, program);
        throw SandboxSetupError(fmt::format("while setting up the build of '{}': {}: {}{}", drv, step,
                                            std::strerror(failure->errnum), keep()),
                                step, child_step_path(*failure, program), failure->errnum);
    }
    if (!outcome.exit->success())
        throw BuildError("builder for '{}' {}{}", drv, outcome.exit->describe(), keep());
}

} // namespace ferry
