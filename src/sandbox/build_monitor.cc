#include "ferry/sandbox/build_monitor.hh"

#include <array>
#include <cstring>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace ferry {

BuildMonitor::BuildMonitor(const asio::any_io_executor& executor, UniqueFd log_read, unsigned max_silent_time,
                           unsigned timeout, std::function<void(std::string_view)> log, uint64_t max_log_size,
                           std::function<asio::awaitable<void>()> log_wait)
    : log_(executor), timer_(executor), max_silent_time_(max_silent_time), timeout_(timeout),
      log_callback_(std::move(log)), max_log_size_(max_log_size), log_wait_(std::move(log_wait)),
      buffer_(65536), started_(Clock::now()), last_output_(started_) {
    log_.assign(log_read.release());
}

asio::awaitable<void> BuildMonitor::pump_log() {
    for (;;) {
        boost::system::error_code ec;
        size_t n = co_await log_.async_read_some(asio::buffer(buffer_),
                                                 asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::eof) co_return;
        if (ec) throw boost::system::system_error(ec, "reading the builder's log");
        last_output_ = Clock::now();
        std::string_view chunk(buffer_.data(), n);
        if (max_log_size_ && log_size_ + n > max_log_size_) {
            // As Nix: the build is killed once it has written more than the limit; the rest is not kept.
            chunk = chunk.substr(0, max_log_size_ - log_size_);
            log_exceeded_ = true;
        }
        log_size_ += chunk.size();
        if (log_callback_ && !chunk.empty()) log_callback_(chunk);
        if (log_exceeded_) {
            timer_.cancel(); // watch_limits() looks again
            co_return;
        }
        if (log_wait_) co_await log_wait_();
    }
}

asio::awaitable<LimitHit> BuildMonitor::watch_limits() {
    for (;;) {
        if (log_exceeded_) co_return LimitHit::log_size;
        auto deadline = Clock::time_point::max();
        auto now = Clock::now();
        if (timeout_.count() > 0) {
            if (now >= started_ + timeout_) co_return LimitHit::timeout;
            deadline = started_ + timeout_;
        }
        if (max_silent_time_.count() > 0) {
            // The log pump moves last_output_ forward; the timer only wakes us to look again.
            if (now >= last_output_ + max_silent_time_) co_return LimitHit::silence;
            deadline = std::min(deadline, last_output_ + max_silent_time_);
        }
        timer_.expires_at(deadline);
        boost::system::error_code ec; // cancelled by pump_log() at the log limit: look again
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec && !(ec == asio::error::operation_aborted && log_exceeded_))
            throw boost::system::system_error(ec, "waiting for the build's limits");
    }
}

asio::awaitable<std::vector<ChildReport>> read_child_reports(asio::posix::stream_descriptor& pipe) {
    std::vector<ChildReport> reports;
    std::string bytes;
    std::array<char, 256> buf;
    for (;;) {
        boost::system::error_code ec;
        size_t n =
            co_await pipe.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::eof) break;
        if (ec) throw boost::system::system_error(ec, "reading the sandbox set-up status");
        bytes.append(buf.data(), n);
    }
    for (size_t pos = 0; pos + sizeof(ChildReport) <= bytes.size(); pos += sizeof(ChildReport)) {
        ChildReport r;
        std::memcpy(&r, bytes.data() + pos, sizeof r);
        reports.push_back(r);
    }
    co_return reports;
}

} // namespace ferry
