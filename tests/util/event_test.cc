// Event and Semaphore: wake-ups, cancellation, FIFO and LIFO slots.
#include "ferry/util/event.hh"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

namespace asio = boost::asio;
using namespace ferry;

TEST(Event, SetWakesEveryWaiterAndLaterWaitsReturnAtOnce) {
    asio::io_context io;
    Event ev(io.get_executor());
    int woken = 0;
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await ev.wait();
                ++woken;
            },
            asio::detached);
    io.restart();
    io.poll();
    EXPECT_EQ(woken, 0);
    ev.set();
    io.restart();
    io.poll();
    EXPECT_EQ(woken, 3);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await ev.wait();
            ++woken;
        },
        asio::detached);
    io.restart();
    io.poll();
    EXPECT_EQ(woken, 4);
}

TEST(Event, CancelledWaiterGetsOperationAbortedAndOthersStillWake) {
    asio::io_context io;
    Event ev(io.get_executor());
    asio::cancellation_signal cancel;
    std::string first, second;
    auto waiter = [&](std::string& out) -> asio::awaitable<void> {
        try {
            co_await ev.wait();
            out = "woken";
        } catch (const boost::system::system_error& e) {
            out = e.code() == asio::error::operation_aborted ? "aborted" : "other";
        }
    };
    asio::co_spawn(io, waiter(first), asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    asio::co_spawn(io, waiter(second), asio::detached);
    io.restart();
    io.poll();
    cancel.emit(asio::cancellation_type::terminal);
    io.restart();
    io.poll();
    EXPECT_EQ(first, "aborted");
    EXPECT_EQ(second, "");
    ev.set();
    io.restart();
    io.poll();
    EXPECT_EQ(second, "woken");
}

namespace {

/// Starts `n` coroutines that each take a slot of `sem`, note their number in `order` and keep the
/// slot in `held`; runs what is ready.
void spawn_takers(asio::io_context& io, Semaphore& sem, int n, std::vector<int>& order,
                  std::vector<Semaphore::Slot>& held) {
    held.resize(n);
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io,
            [&, i]() -> asio::awaitable<void> {
                auto slot = co_await sem.acquire();
                order.push_back(i);
                held[i] = std::move(slot);
            },
            asio::detached);
    io.restart();
    io.poll();
}

} // namespace

TEST(Semaphore, SlotsGoInOrderAndComeBack) {
    asio::io_context io;
    Semaphore sem(io.get_executor(), 1);
    std::vector<int> order;
    std::vector<Semaphore::Slot> held;
    spawn_takers(io, sem, 3, order, held);
    EXPECT_EQ(order, (std::vector<int>{0}));
    EXPECT_EQ(sem.waiting(), 2u);
    held[0].release();
    io.restart();
    io.poll();
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
    held[1].release();
    held[2].release();
    io.restart();
    io.poll();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    held[2].release();
    EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, LifoHandsAFreedSlotToTheNewestWaiter) {
    asio::io_context io;
    Semaphore sem(io.get_executor(), 1, Semaphore::Order::lifo);
    std::vector<int> order;
    std::vector<Semaphore::Slot> held;
    spawn_takers(io, sem, 4, order, held);
    ASSERT_EQ(order, (std::vector<int>{0}));
    EXPECT_EQ(sem.waiting(), 3u);
    for (int expected : {3, 2, 1}) {
        held[order.back()].release();
        io.restart();
        io.poll();
        ASSERT_EQ(order.back(), expected);
    }
    EXPECT_EQ(order, (std::vector<int>{0, 3, 2, 1}));
    held[1].release();
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_EQ(sem.waiting(), 0u);
}
