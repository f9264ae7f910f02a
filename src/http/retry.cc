#include "ferry/http/retry.hh"

#include <algorithm>
#include <cmath>

#include <curl/curl.h>

namespace ferry::http {

bool is_success_status(long status) noexcept {
    return status >= 200 && status < 300;
}

bool is_answer_status(long status) noexcept {
    return status == 403 || status == 404 || status == 410;
}

bool is_transient_status(long status) noexcept {
    if (status == 408 || status == 429) return true;
    return status >= 500 && status < 600 && status != 501 && status != 505 && status != 511;
}

bool is_transient_curl_error(int curl_code) noexcept {
    switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

Verdict judge(const AttemptOutcome& outcome, unsigned attempt, unsigned attempts) noexcept {
    bool transient;
    if (outcome.curl_code == 0) {
        if (is_success_status(outcome.status) || is_answer_status(outcome.status)) return Verdict::done;
        transient = is_transient_status(outcome.status);
    } else {
        transient = is_transient_curl_error(outcome.curl_code);
    }
    if (!transient || attempt >= attempts) return Verdict::fail;
    // The sink has seen part of this body: another attempt would hand it the start again.
    if (outcome.sink_received && !outcome.restartable) return Verdict::fail;
    return Verdict::retry;
}

std::chrono::milliseconds backoff_delay(unsigned retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, double unit) noexcept {
    double exponent = std::min(retry == 0 ? 0u : retry - 1, 40u);
    double ms = static_cast<double>(base.count()) * std::ldexp(1.0, static_cast<int>(exponent)) *
                (1.0 + std::clamp(unit, 0.0, 1.0));
    ms = std::min(ms, static_cast<double>(max.count()));
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

} // namespace ferry::http
