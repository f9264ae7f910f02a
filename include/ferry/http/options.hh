#pragma once
/// Settings of an HTTP client: limits, timeouts and retries, named after Nix's settings.

#include <chrono>
#include <string>

namespace ferry::http {

/// "ferry/<version>", the default User-Agent.
std::string default_user_agent();

/// How a Client behaves. Plain data, copied into the Client when it is made.
struct ClientOptions {
    /// `http-connections`: at most this many transfers run at once; the others wait in the Client, first
    /// in first out. Also curl's limit on open connections, in total and per host. At least 1.
    unsigned max_connections = 150;
    /// `connect-timeout`: limit on setting up a connection. 0 means curl's default (300 s), as in Nix.
    std::chrono::milliseconds connect_timeout{0};
    /// `stalled-download-timeout`: a transfer that receives less than 1 byte/s for this long fails (and
    /// may be retried). Whole seconds, curl's resolution; 0 disables the check.
    std::chrono::seconds stall_timeout{300};
    /// `download-attempts`: tries per request, the first one included. At least 1.
    unsigned attempts = 5;
    /// Delay before the first retry; it doubles with each further retry, times a random factor in [1, 2).
    std::chrono::milliseconds retry_base_delay{250};
    /// No single retry delay is longer than this.
    std::chrono::milliseconds retry_max_delay{60'000};
    /// Sent as the User-Agent header.
    std::string user_agent = default_user_agent();
    /// A slot that frees up goes to a waiting non-urgent request only after this grace, so the urgent
    /// requests that a finished one triggers (the next level of narinfo queries) claim it first. 0:
    /// at once.
    std::chrono::microseconds bulk_grace{1000};
    /// Ask for HTTP/2 over TLS and multiplex transfers over one connection where the server agrees.
    /// Plain http:// stays HTTP/1.1.
    bool http2 = true;
};

} // namespace ferry::http
