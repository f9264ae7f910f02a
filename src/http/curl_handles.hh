#pragma once
/// RAII owners of curl's handles, checked option setters, and curl's one-time global set-up.
/// Private to the http module.

#include <memory>
#include <string>

#include <curl/curl.h>

#include "ferry/util/error.hh"

namespace ferry::http::detail {

struct EasyDeleter {
    void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
/// Owns an easy handle (one transfer's settings and state).
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
    void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
/// Owns a multi handle (the connection cache and the transfers running on it).
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

struct SListDeleter {
    void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
/// Owns a list of strings (request headers).
using SList = std::unique_ptr<curl_slist, SListDeleter>;

/// Calls curl_global_init once per process; thread-safe. Throws Error when curl cannot start.
void ensure_curl_global_init();

/// curl_easy_setopt that throws Error naming the option when curl refuses it.
template <typename T> void set_option(CURL* easy, CURLoption option, T value) {
    if (CURLcode rc = curl_easy_setopt(easy, option, value); rc != CURLE_OK)
        throw Error("curl refused option {}: {}", static_cast<int>(option), curl_easy_strerror(rc));
}

/// curl_multi_setopt that throws Error naming the option when curl refuses it.
template <typename T> void set_multi_option(CURLM* multi, CURLMoption option, T value) {
    if (CURLMcode rc = curl_multi_setopt(multi, option, value); rc != CURLM_OK)
        throw Error("curl refused multi option {}: {}", static_cast<int>(option), curl_multi_strerror(rc));
}

} // namespace ferry::http::detail
