#pragma once
/// The error a transfer fails with.

#include <exception>
#include <string>

#include "ferry/util/error.hh"

namespace ferry::http {

/// A transfer failed. The message is one line naming the URL, the reason (curl's error text or the
/// HTTP status) and the number of attempts, e.g.
/// `cannot download 'http://h/x.narinfo': HTTP status 500 (5 attempts)`.
class HttpError : public Error {
public:
    enum class Kind {
        transport, ///< curl failed: connection, timeout, truncated body, bad URL…
        status,    ///< the server answered with a status that is neither success nor an answer
        cancelled, ///< the caller cancelled the transfer
        shut_down, ///< the Client shut down (or was destroyed) first
    };

    HttpError(Kind kind, std::string url, const std::string& reason, unsigned attempts, long status = 0,
              int curl_code = 0);

    Kind kind() const noexcept { return kind_; }
    const std::string& url() const noexcept { return url_; }
    /// The HTTP status of the last attempt, 0 when there was none.
    long status() const noexcept { return status_; }
    /// The CURLcode of the last attempt, 0 when curl succeeded.
    int curl_code() const noexcept { return curl_code_; }
    unsigned attempts() const noexcept { return attempts_; }

private:
    Kind kind_;
    std::string url_;
    long status_;
    int curl_code_;
    unsigned attempts_;
};

/// True when `error` stands for a cancellation rather than a failure: an HttpError of kind cancelled or
/// shut_down, or what ferry::is_cancellation (util/cancellation.hh) recognises. Callable from any thread.
bool is_cancellation(const std::exception_ptr& error) noexcept;

} // namespace ferry::http
