// is_cancellation: a cancelled Asio operation (a cancelled Event wait included) is told apart from failures.
#include "ferry/util/cancellation.hh"

#include <stdexcept>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include "ferry/util/error.hh"
#include "ferry/util/event.hh"

namespace asio = boost::asio;
using namespace ferry;

TEST(Cancellation, OperationAbortedIsACancellation) {
    auto aborted = std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted));
    EXPECT_TRUE(is_cancellation(aborted));
}

TEST(Cancellation, FailuresAndNullAreNot) {
    EXPECT_FALSE(is_cancellation(nullptr));
    EXPECT_FALSE(is_cancellation(std::make_exception_ptr(Error("cannot read 'x': gone"))));
    EXPECT_FALSE(is_cancellation(std::make_exception_ptr(std::runtime_error("boom"))));
    EXPECT_FALSE(is_cancellation(std::make_exception_ptr(42)));
    EXPECT_FALSE(
        is_cancellation(std::make_exception_ptr(boost::system::system_error(asio::error::timed_out))));
}

TEST(Cancellation, ACancelledEventWaitIsRecognised) {
    asio::io_context io;
    Event never(io.get_executor());
    asio::cancellation_signal cancel;
    std::exception_ptr outcome;
    bool done = false;
    asio::co_spawn(io, never.wait(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                       outcome = e;
                       done = true;
                   }));
    io.poll();
    ASSERT_FALSE(done);
    cancel.emit(asio::cancellation_type::terminal);
    io.run_for(std::chrono::seconds(5));
    ASSERT_TRUE(done);
    ASSERT_TRUE(outcome);
    EXPECT_TRUE(is_cancellation(outcome));
}
