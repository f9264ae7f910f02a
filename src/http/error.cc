#include "ferry/http/error.hh"

#include <fmt/format.h>

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

} // namespace ferry::http
