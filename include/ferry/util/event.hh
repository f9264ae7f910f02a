#pragma once
/// Coroutine synchronisation on one io_context thread: a one-shot Event that any number of coroutines
/// wait for, and a counting Semaphore (build slots). Not thread-safe: use them from the loop thread.
///
/// An Event costs a flag and an empty list until someone waits (a large closure has one per path), so
/// waiters are kept as type-erased completion handlers rather than through a timer.

#include <cstddef>
#include <deque>
#include <list>
#include <memory>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/system/error_code.hpp>

namespace ferry {

/// Set once; wait() returns at once after that. A waiter whose coroutine is cancelled gets
/// boost::system::system_error(operation_aborted). The Event must outlive its waiters.
class Event {
public:
    explicit Event(const boost::asio::any_io_executor& ex) : ex_(ex) {}
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event();

    void set();
    bool is_set() const noexcept { return set_; }
    boost::asio::awaitable<void> wait();

private:
    using Handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
    struct Waiter {
        explicit Waiter(Handler h) : handler(std::move(h)) {}
        Handler handler;
        boost::asio::cancellation_slot slot;
    };
    void add_waiter(Handler handler, boost::asio::cancellation_slot slot);
    void complete(std::list<Waiter>::iterator it, boost::system::error_code ec);

    boost::asio::any_io_executor ex_;
    std::list<Waiter> waiters_;
    /// Counts as outstanding work of the io_context while anyone waits (as a pending timer would), so
    /// run() does not return under a waiting coroutine.
    boost::asio::any_io_executor work_;
    bool set_ = false;
};

/// `count` slots, handed out to waiters first in first out, or, with Order::lifo, newest waiter first.
class Semaphore {
public:
    enum class Order { fifo, lifo };
    Semaphore(const boost::asio::any_io_executor& ex, size_t count, Order order = Order::fifo)
        : ex_(ex), free_(count), order_(order) {}

    /// Releases its slot when destroyed.
    class Slot {
    public:
        Slot() = default;
        explicit Slot(Semaphore* s) : sem_(s) {}
        Slot(Slot&& o) noexcept : sem_(o.sem_) { o.sem_ = nullptr; }
        Slot& operator=(Slot&& o) noexcept {
            if (this != &o) {
                release();
                sem_ = o.sem_;
                o.sem_ = nullptr;
            }
            return *this;
        }
        ~Slot() { release(); }
        void release() noexcept {
            if (sem_) sem_->release();
            sem_ = nullptr;
        }

    private:
        Semaphore* sem_ = nullptr;
    };

    /// Waits for a free slot. Cancelling the waiter leaves the queue consistent.
    boost::asio::awaitable<Slot> acquire();
    size_t available() const noexcept { return free_; }
    size_t waiting() const noexcept { return waiters_.size(); }

private:
    void release() noexcept;

    boost::asio::any_io_executor ex_;
    size_t free_;
    Order order_;
    std::deque<std::shared_ptr<Event>> waiters_;
};

} // namespace ferry
