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
                           unsigned timeout, std::function<void(std::string_view)> log)
    : log_(executor), timer_(executor), max_silent_time_(max_silent_time), timeout_(timeout),
      log_callback_(std::move(log)), buffer_(65536), started_(Clock::now()), last_output_(started_) {
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
        if (log_callback_) log_callback_(std::string_view(buffer_.data(), n));
    }
}

asio::awaitable<LimitHit> BuildMonitor::watch_limits() {
    for (;;) {
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
        co_await timer_.async_wait(asio::use_awaitable);
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
