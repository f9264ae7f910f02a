#include "curl_handles.hh"

#include <mutex>

namespace ferry::http::detail {

void ensure_curl_global_init() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (result != CURLE_OK) throw Error("cannot initialise libcurl: {}", curl_easy_strerror(result));
}

} // namespace ferry::http::detail
