// http::is_cancellation: HttpErrors of the cancelled and shut-down kinds count as cancellations, other
// transfer failures do not; the generic cases of util's is_cancellation still hold.
#include "ferry/http/error.hh"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

using namespace ferry;
using http::HttpError;

namespace {

std::exception_ptr http_error(HttpError::Kind kind) {
    return std::make_exception_ptr(HttpError(kind, "http://127.0.0.1:1/x.narinfo", "reason", 1));
}

} // namespace

TEST(HttpCancellation, CancelledAndShutDownTransfersAreCancellations) {
    EXPECT_TRUE(http::is_cancellation(http_error(HttpError::Kind::cancelled)));
    EXPECT_TRUE(http::is_cancellation(http_error(HttpError::Kind::shut_down)));
}

TEST(HttpCancellation, FailedTransfersAreNot) {
    EXPECT_FALSE(http::is_cancellation(http_error(HttpError::Kind::transport)));
    EXPECT_FALSE(http::is_cancellation(http_error(HttpError::Kind::status)));
    EXPECT_FALSE(http::is_cancellation(std::make_exception_ptr(Error("cannot read 'x': gone"))));
    EXPECT_FALSE(http::is_cancellation(nullptr));
}

TEST(HttpCancellation, AnAbortedAsioOperationIsOne) {
    auto aborted =
        std::make_exception_ptr(boost::system::system_error(boost::asio::error::operation_aborted));
    EXPECT_TRUE(http::is_cancellation(aborted));
}
