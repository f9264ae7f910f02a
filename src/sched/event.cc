#include "ferry/sched/event.hh"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace ferry {

Event::Event(const asio::any_io_executor& ex) : timer_(ex, asio::steady_timer::time_point::max()) {}

void Event::set() {
    if (set_) return;
    set_ = true;
    timer_.cancel();
}

asio::awaitable<void> Event::wait() {
    while (!set_) {
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        // operation_aborted is how set() wakes us; if the event is still unset, our own coroutine
        // was cancelled.
        if (!set_) {
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                throw boost::system::system_error(asio::error::operation_aborted);
        }
    }
}

asio::awaitable<Semaphore::Slot> Semaphore::acquire() {
    if (free_ > 0 && waiters_.empty()) {
        --free_;
        co_return Slot(this);
    }
    auto ev = std::make_shared<Event>(ex_);
    waiters_.push_back(ev);
    try {
        co_await ev->wait();
    } catch (...) {
        // Cancelled: leave the queue, and pass on a slot that was handed to us meanwhile.
        auto it = std::find(waiters_.begin(), waiters_.end(), ev);
        if (it != waiters_.end())
            waiters_.erase(it);
        else if (ev->is_set())
            release();
        throw;
    }
    co_return Slot(this); // release() handed its slot straight to us
}

void Semaphore::release() noexcept {
    if (!waiters_.empty()) {
        auto ev = waiters_.front();
        waiters_.pop_front();
        ev->set();
        return;
    }
    ++free_;
}

} // namespace ferry
