#include "ferry/util/event.hh"

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace asio = boost::asio;

namespace ferry {

Event::~Event() {
    // Waiters still here cannot be resumed any more; make sure no cancellation slot points at us.
    for (auto& w : waiters_)
        if (w.slot.is_connected()) w.slot.clear();
}

void Event::add_waiter(Handler handler, asio::cancellation_slot slot) {
    if (waiters_.empty()) work_ = asio::prefer(ex_, asio::execution::outstanding_work.tracked);
    auto it = waiters_.emplace(waiters_.end(), std::move(handler));
    if (slot.is_connected()) {
        it->slot = slot;
        slot.assign([this, it](asio::cancellation_type) { complete(it, asio::error::operation_aborted); });
    }
}

void Event::complete(std::list<Waiter>::iterator it, boost::system::error_code ec) {
    if (it->slot.is_connected()) it->slot.clear();
    Handler handler(std::move(it->handler));
    waiters_.erase(it);
    if (waiters_.empty()) work_ = {};
    // Never resume a waiter from inside set() or a cancellation: go through the loop.
    asio::post(ex_, asio::append(std::move(handler), ec));
}

void Event::set() {
    if (set_) return;
    set_ = true;
    while (!waiters_.empty())
        complete(waiters_.begin(), {});
}

asio::awaitable<void> Event::wait() {
    if (set_) co_return;
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    auto initiate = [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        add_waiter(Handler(std::move(handler)), slot);
    };
    co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(initiate, token);
    if (ec) throw boost::system::system_error(ec);
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
        std::shared_ptr<Event> ev;
        if (order_ == Order::fifo) {
            ev = std::move(waiters_.front());
            waiters_.pop_front();
        } else {
            ev = std::move(waiters_.back());
            waiters_.pop_back();
        }
        ev->set();
        return;
    }
    ++free_;
}

} // namespace ferry
