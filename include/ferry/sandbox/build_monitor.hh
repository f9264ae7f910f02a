#pragma once
/// Watching a running build from the event loop: the builder's log arrives through a pipe and goes to the
/// job's log callback; `max-silent-time` (no output for N seconds) and `timeout` (N seconds in all) are
/// checked against a steady timer; the child's set-up reports arrive through the status pipe. All of it
/// runs on one io_context thread; nothing blocks.

#include <chrono>
#include <functional>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ferry/sandbox/child_setup.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// Which limit a build exceeded.
enum class LimitHit { silence, timeout, log_size };

/// Owns the read side of the log pipe and the limit timer of one build. Used from its executor's thread
/// only; pump_log() and watch_limits() run concurrently as parts of one parallel group.
class BuildMonitor {
public:
    using Clock = std::chrono::steady_clock;

    /// `max_silent_time` and `timeout` in seconds, 0 for none. `log` may be empty. `max_log_size`: bytes
    /// of log beyond which the build is stopped (0: no limit). `log_wait`, when set, is awaited after
    /// each chunk given to `log` (the log's writer catching up).
    BuildMonitor(const boost::asio::any_io_executor& executor, UniqueFd log_read, unsigned max_silent_time,
                 unsigned timeout, std::function<void(std::string_view)> log, uint64_t max_log_size = 0,
                 std::function<boost::asio::awaitable<void>()> log_wait = {});

    /// Reads the log until end of file, that is until every process holding the pipe (the builder and
    /// whatever it left running) has gone, or until it exceeds `max_log_size` (then watch_limits()
    /// completes with LimitHit::log_size, and nothing more is read). Each chunk goes to the log callback
    /// as it arrives; only the part within the limit.
    boost::asio::awaitable<void> pump_log();
    /// Completes when a limit is exceeded; without limits it only ends by cancellation.
    boost::asio::awaitable<LimitHit> watch_limits();

private:
    boost::asio::posix::stream_descriptor log_;
    boost::asio::steady_timer timer_;
    std::chrono::seconds max_silent_time_;
    std::chrono::seconds timeout_;
    std::function<void(std::string_view)> log_callback_;
    uint64_t max_log_size_;
    std::function<boost::asio::awaitable<void>()> log_wait_;
    uint64_t log_size_ = 0;
    bool log_exceeded_ = false;
    std::vector<char> buffer_; ///< log chunks (kept out of the coroutine frame)
    Clock::time_point started_;
    Clock::time_point last_output_;
};

/// Reads the child's status pipe until end of file (the builder's exec closed it, or the child exited) and
/// returns the reports it wrote.
boost::asio::awaitable<std::vector<ChildReport>>
read_child_reports(boost::asio::posix::stream_descriptor& pipe);

} // namespace ferry
