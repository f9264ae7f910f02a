#include "ferry/sandbox/sandbox_builder.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>

#include "ferry/sandbox/build_monitor.hh"
#include "ferry/sandbox/namespace_support.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/sandbox_process.hh"
#include "ferry/sandbox/sandbox_setup.hh"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

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

/// How watching a running build ended: it exited, a limit was hit, the watch failed, or the awaiting
/// coroutine was cancelled.
struct Supervision {
    std::optional<ExitStatus> exit;
    std::vector<ChildReport> reports;
    std::optional<LimitHit> limit;
    std::exception_ptr error;
    bool cancelled = false;
};

asio::awaitable<std::tuple<ExitStatus, std::vector<ChildReport>>>
run_to_exit(SandboxProcess& process, BuildMonitor& monitor, asio::posix::stream_descriptor& status) {
    co_return co_await (process.wait() && monitor.pump_log() && read_child_reports(status));
}

asio::awaitable<Supervision> supervise(SandboxProcess& process, BuildMonitor& monitor,
                                       asio::posix::stream_descriptor& status) {
    auto executor = co_await asio::this_coro::executor;
    auto [order, main_error, result, limit_error, limit] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(executor, run_to_exit(process, monitor, status), asio::deferred),
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

/// For keep-failed: the build directory stays (readable, as Nix leaves it) and the message says where.
std::string keep_if_wanted(const BuildJob& job, PreparedSandbox& prepared) {
    if (!job.keep_failed) return "";
    ::chmod(prepared.build_dir.c_str(), 0755);
    prepared.build.release();
    return "; note: keeping build directory '" + prepared.build_dir.string() + "'";
}

const ChildReport* find_report(const std::vector<ChildReport>& reports, uint32_t kind) {
    for (const auto& r : reports)
        if (r.kind == kind) return &r;
    return nullptr;
}

[[noreturn]] void throw_setup_error(const std::string& drv, const ChildReport& failure,
                                    const ChildProgram& program, const std::string& kept) {
    auto step = describe_child_step(failure, program);
    throw SandboxSetupError(fmt::format("while setting up the sandbox for '{}': {}: {}{}", drv, step,
                                        std::strerror(failure.errnum), kept),
                            step, child_step_path(failure, program), failure.errnum);
}

std::unique_ptr<BuiltOutputs> finish(const BuildJob& job, std::unique_ptr<PreparedSandbox> prepared,
                                     Supervision& outcome, int64_t started_ns) {
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
        auto kept = keep_if_wanted(job, *prepared);
        if (*outcome.limit == LimitHit::silence)
            throw BuildTimedOut("building '{}' timed out after {} seconds of silence{}", drv,
                                job.max_silent_time, kept);
        throw BuildTimedOut("building '{}' timed out after {} seconds{}", drv, job.timeout, kept);
    }
    if (auto failure = find_report(outcome.reports, ChildReport::failed))
        throw_setup_error(drv, *failure, prepared->program, keep_if_wanted(job, *prepared));
    if (!outcome.exit->success())
        throw BuildError("builder for '{}' {}{}", drv, outcome.exit->describe(),
                         keep_if_wanted(job, *prepared));

    auto ready = find_report(outcome.reports, ChildReport::exec_ready);
    auto setup = std::chrono::nanoseconds(ready ? ready->monotonic_ns - started_ns : 0);
    auto root = prepared->root;
    // As Nix, the build directory goes as soon as the build succeeded; the root holds the outputs.
    auto out = std::make_unique<SandboxBuiltOutputs>(std::move(prepared->staging), setup);
    for (const auto& [name, path] : job.outputs)
        out->locations[name] = root.string() + job.store_dir.print(path);
    return out;
}

void check_no_chroot(const BuildJob& job, const SandboxOptions& options) {
    auto it = job.drv->env.find("__noChroot");
    if (options.reject_no_chroot && it != job.drv->env.end() && it->second == "1")
        throw SandboxError(
            "derivation '{}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'",
            job.store_dir.print(job.drv_path));
}

SandboxProcess spawn(const asio::any_io_executor& executor, PreparedSandbox& prepared,
                     const std::string& drv) {
    try {
        return SandboxProcess::spawn(executor, prepared.program, prepared.namespaces);
    } catch (const SysError& e) {
        throw SandboxError("cannot start the sandbox for '{}': {} ({})", drv, e.message(),
                           user_namespace_sysctls());
    }
}

} // namespace

SandboxBuilder::SandboxBuilder(SandboxOptions options)
    : options_(std::move(options)), host_(probe_host_facts()) {}

std::unique_ptr<PreparedSandbox> SandboxBuilder::prepare(const BuildJob& job, const std::string& drv) const {
    auto context = "while preparing the sandbox for '" + drv + "'";
    try {
        return prepare_sandbox(job, options_, host_);
    } catch (BuildError& e) {
        e.add_context(context);
        throw;
    } catch (const Error& e) {
        // Whatever went wrong (a missing input, a full disk), the build failed: callers expect a BuildError.
        throw SandboxError("{}: {}", context, e.what());
    }
}

asio::awaitable<std::unique_ptr<BuiltOutputs>> SandboxBuilder::build(BuildJob& job) {
    auto drv = job.store_dir.print(job.drv_path);
    check_no_chroot(job, options_);
    auto prepared = prepare(job, drv);
    auto log_pipe = make_pipe("log");
    auto status_pipe = make_pipe("status");
    prepared->program.log_fd = log_pipe.write.get();
    prepared->program.status_fd = status_pipe.write.get();

    auto executor = co_await asio::this_coro::executor;
    // Cancelled before the process exists: nothing to kill yet.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted, "building '" + drv + "'");
    int64_t started = monotonic_ns();
    auto process = spawn(executor, *prepared, drv);
    log_pipe.write.reset();
    status_pipe.write.reset();

    BuildMonitor monitor(executor, std::move(log_pipe.read), job.max_silent_time, job.timeout, job.log);
    asio::posix::stream_descriptor status(executor, status_pipe.read.release());
    auto outcome = co_await supervise(process, monitor, status);
    if (!process.reaped()) {
        // Also after cancellation: a co_await would otherwise throw at once, leaving the process to the
        // destructor's blocking reap.
        bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
        co_await asio::this_coro::throw_if_cancelled(false);
        co_await kill_and_reap(process);
        co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
    }
    co_return finish(job, std::move(prepared), outcome, started);
}

} // namespace ferry
