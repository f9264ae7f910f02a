#pragma once
/// When to retry a transfer and how long to wait first. Pure functions, no I/O.

#include <chrono>

namespace ferry::http {

/// What one attempt came to, as far as retrying is concerned.
struct AttemptOutcome {
    /// The CURLcode; 0 when curl completed the transfer (whatever the status).
    int curl_code = 0;
    /// The HTTP status (file:// reports 200 or 404), 0 when no response arrived.
    long status = 0;
    /// The request's sink received bytes during this attempt.
    bool sink_received = false;
    /// The request can deliver its body again (it has a restart callback).
    bool restartable = false;
};

enum class Verdict {
    done,  ///< return the response: a success or an answer (403, 404, 410)
    retry, ///< wait, then try again
    fail,  ///< throw
};

/// 2xx.
bool is_success_status(long status) noexcept;
/// 403, 404 and 410: the server's answer that the file is not there, not an error.
bool is_answer_status(long status) noexcept;
/// Statuses worth another try: 408, 429 and 5xx except 501, 505 and 511.
bool is_transient_status(long status) noexcept;
/// curl errors worth another try: connection, resolution, timeouts, truncated or reset transfers, TLS
/// handshakes, HTTP/2 stream errors.
bool is_transient_curl_error(int curl_code) noexcept;

/// Decides after attempt number `attempt` (1-based) out of at most `attempts`.
Verdict judge(const AttemptOutcome& outcome, unsigned attempt, unsigned attempts) noexcept;

/// The wait before retry number `retry` (1-based): base × 2^(retry−1) × (1 + `unit`), at most `max`.
/// `unit` is a random number in [0, 1) (the jitter), passed in so that tests choose it.
std::chrono::milliseconds backoff_delay(unsigned retry, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, double unit) noexcept;

} // namespace ferry::http
