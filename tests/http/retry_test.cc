#include "ferry/http/retry.hh"

#include <gtest/gtest.h>

namespace ferry::http {
namespace {

using namespace std::chrono_literals;

constexpr int kCouldntConnect = 7;     // CURLE_COULDNT_CONNECT
constexpr int kPartialFile = 18;       // CURLE_PARTIAL_FILE
constexpr int kOperationTimedOut = 28; // CURLE_OPERATION_TIMEDOUT
constexpr int kUrlMalformat = 3;       // CURLE_URL_MALFORMAT
constexpr int kWriteError = 23;        // CURLE_WRITE_ERROR

TEST(Retry, SuccessAndAnswersAreDone) {
    for (long status : {200L, 204L, 206L, 403L, 404L, 410L})
        EXPECT_EQ(judge({.status = status}, 1, 5), Verdict::done) << status;
}

TEST(Retry, TransientStatusesAreRetriedUntilTheLastAttempt) {
    for (long status : {408L, 429L, 500L, 502L, 503L, 504L}) {
        EXPECT_EQ(judge({.status = status}, 1, 5), Verdict::retry) << status;
        EXPECT_EQ(judge({.status = status}, 4, 5), Verdict::retry) << status;
        EXPECT_EQ(judge({.status = status}, 5, 5), Verdict::fail) << status;
    }
}

TEST(Retry, PermanentStatusesFailAtOnce) {
    for (long status : {301L, 400L, 401L, 405L, 501L, 505L, 511L})
        EXPECT_EQ(judge({.status = status}, 1, 5), Verdict::fail) << status;
}

TEST(Retry, TransportErrors) {
    for (int code : {kCouldntConnect, kPartialFile, kOperationTimedOut})
        EXPECT_EQ(judge({.curl_code = code}, 1, 5), Verdict::retry) << code;
    for (int code : {kUrlMalformat, kWriteError})
        EXPECT_EQ(judge({.curl_code = code}, 1, 5), Verdict::fail) << code;
    EXPECT_EQ(judge({.curl_code = kCouldntConnect}, 1, 1), Verdict::fail);
}

TEST(Retry, ConsumedBodyIsRetriedOnlyWhenRestartable) {
    AttemptOutcome outcome{.curl_code = kPartialFile, .sink_received = true};
    EXPECT_EQ(judge(outcome, 1, 5), Verdict::fail);
    outcome.restartable = true;
    EXPECT_EQ(judge(outcome, 1, 5), Verdict::retry);
    // Bytes delivered do not matter when nothing was wrong.
    EXPECT_EQ(judge({.status = 200, .sink_received = true}, 1, 5), Verdict::done);
}

TEST(Retry, BackoffDoublesWithJitterAndIsCapped) {
    EXPECT_EQ(backoff_delay(1, 250ms, 60s, 0.0), 250ms);
    EXPECT_EQ(backoff_delay(2, 250ms, 60s, 0.0), 500ms);
    EXPECT_EQ(backoff_delay(3, 250ms, 60s, 0.0), 1000ms);
    EXPECT_EQ(backoff_delay(3, 250ms, 60s, 0.5), 1500ms);
    EXPECT_LT(backoff_delay(3, 250ms, 60s, 0.999), 2000ms);
    EXPECT_EQ(backoff_delay(30, 250ms, 60s, 0.5), 60s);
    EXPECT_EQ(backoff_delay(1000, 250ms, 60s, 0.5), 60s);
    EXPECT_EQ(backoff_delay(1, 0ms, 60s, 0.5), 0ms);
}

} // namespace
} // namespace ferry::http
