#pragma once
/// One request's curl easy handle and what its current attempt has received. Private to the http module.

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "curl_handles.hh"
#include "ferry/http/options.hh"
#include "ferry/http/request.hh"
#include "ferry/http/retry.hh"

namespace ferry::http::detail {

enum class Method { get, head };

/// Owns the request, the easy handle (configured once, reused by every attempt) and the state of the
/// attempt in progress: status, headers, body or sink progress, the sink's exception.
/// Threading: the client's thread; curl calls its write/header callbacks from inside
/// curl_multi_socket_action on that thread.
class Transfer {
public:
    /// Throws Error when curl refuses an option (e.g. a URL it cannot hold).
    Transfer(Request request, Method method, const ClientOptions& options);
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;

    CURL* easy() const noexcept { return easy_.get(); }
    const std::string& url() const noexcept { return request_.url; }
    const Request& request() const noexcept { return request_; }

    /// Clears what the previous attempt received. Call before handing the handle to curl.
    void begin_attempt() noexcept;
    /// Records curl's result for the attempt and reads the status; call once curl is done with it.
    void end_attempt(CURLcode result) noexcept;

    /// The attempt as the retry policy sees it.
    AttemptOutcome outcome() const noexcept;
    /// The exception the sink threw in this attempt, if any.
    std::exception_ptr sink_error() const noexcept { return sink_error_; }
    /// Body bytes received in this attempt.
    std::uint64_t bytes() const noexcept { return bytes_; }
    /// Moves out the response of the last attempt.
    Response take_response(unsigned attempts);
    /// A one-line reason for the last attempt's failure: curl's error text or the status.
    std::string failure_reason() const;
    /// What resumes this transfer after its gate paused it; called from any thread (it must post to the
    /// client's loop). Set once by the client.
    void set_resume(std::function<void()> resume) { resume_ = std::move(resume); }

private:
    static std::size_t write_callback(char* data, std::size_t size, std::size_t count, void* self) noexcept;
    static std::size_t header_callback(char* data, std::size_t size, std::size_t count, void* self) noexcept;
    void configure(Method method, const ClientOptions& options);
    void on_body(std::string_view data);
    void on_header(std::string_view line);
    bool delivers_to_sink() const noexcept;
    /// Whether the request's gate holds back the next piece of a sunk body (curl pauses the transfer).
    bool held_by_gate();

    Request request_;
    EasyHandle easy_;
    SList header_list_;
    std::array<char, CURL_ERROR_SIZE> error_text_{};
    std::function<void()> resume_;
    /// Not file://: curl reads local files in one go and cannot pause them.
    bool pausable_ = false;

    // The current attempt.
    CURLcode result_ = CURLE_OK;
    long status_ = 0;
    bool file_scheme_ = false;
    std::vector<Header> headers_;
    std::string body_;
    std::uint64_t bytes_ = 0;
    std::uint64_t sink_bytes_ = 0;
    std::exception_ptr sink_error_;
};

} // namespace ferry::http::detail
