#include "ferry/http/error.hh"

#include <fmt/format.h>

#include "ferry/util/cancellation.hh"

namespace ferry::http {

namespace {

std::string format_message(const std::string& url, const std::string& reason, unsigned attempts) {
    if (attempts == 0) return fmt::format("cannot download '{}': {}", url, reason);
    return fmt::format("cannot download '{}': {} ({} attempt{})", url, reason, attempts,
                       attempts == 1 ? "" : "s");
}

} // namespace

HttpError::HttpError(Kind kind, std::string url, const std::string& reason, unsigned attempts, long status,
                     int curl_code)
    : Error(format_message(url, reason, attempts)), kind_(kind), url_(std::move(url)), status_(status),
      curl_code_(curl_code), attempts_(attempts) {}

bool is_cancellation(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const HttpError& e) {
        return e.kind() == HttpError::Kind::cancelled || e.kind() == HttpError::Kind::shut_down;
    } catch (...) {
        return ferry::is_cancellation(error);
    }
}

} // namespace ferry::http
