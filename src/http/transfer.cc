#include "transfer.hh"

#include <algorithm>
#include <charconv>
#include <strings.h>

#include <fmt/format.h>

#include "ferry/http/body_gate.hh"
#include "ferry/util/error.hh"

namespace ferry::http::detail {

namespace {

constexpr long kMaxRedirects = 10;
/// Bodies of failed (non-2xx) responses are kept up to this size, for messages and answers.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

/// "HTTP/1.1 200 OK" → 200; 0 when the line is not a status line.
long parse_status_line(std::string_view line) {
    if (!line.starts_with("HTTP/")) return 0;
    auto space = line.find(' ');
    if (space == std::string_view::npos) return 0;
    long status = 0;
    auto digits = line.substr(space + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), status);
    return ec == std::errc() ? status : 0;
}

} // namespace

Transfer::Transfer(Request request, Method method, const ClientOptions& options)
    : request_(std::move(request)), easy_(curl_easy_init()) {
    if (!easy_) throw Error("cannot create a curl handle for '{}'", request_.url);
    pausable_ = strncasecmp(request_.url.c_str(), "file:", 5) != 0;
    configure(method, options);
}

void Transfer::configure(Method method, const ClientOptions& options) {
    CURL* e = easy_.get();
    set_option(e, CURLOPT_URL, request_.url.c_str());
    set_option(e, CURLOPT_PROTOCOLS_STR, "http,https,file");
    set_option(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set_option(e, CURLOPT_FOLLOWLOCATION, 1L);
    set_option(e, CURLOPT_MAXREDIRS, kMaxRedirects);
    set_option(e, CURLOPT_NOSIGNAL, 1L);
    set_option(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    set_option(e, CURLOPT_HTTP_VERSION, options.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    // Wait for a connection that may multiplex rather than open one more: only TLS negotiates HTTP/2.
    if (options.http2 && request_.url.starts_with("https://")) set_option(e, CURLOPT_PIPEWAIT, 1L);
    if (options.connect_timeout.count() > 0)
        set_option(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    if (options.stall_timeout.count() > 0) {
        set_option(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        set_option(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
    }
    if (method == Method::head) set_option(e, CURLOPT_NOBODY, 1L);
    for (const auto& h : request_.headers) {
        std::string line = h.name + ": " + h.value;
        curl_slist* list = curl_slist_append(header_list_.get(), line.c_str());
        if (!list) throw Error("cannot add header '{}' to the request for '{}'", h.name, request_.url);
        header_list_.release();
        header_list_.reset(list);
    }
    if (header_list_) set_option(e, CURLOPT_HTTPHEADER, header_list_.get());
    set_option(e, CURLOPT_ERRORBUFFER, error_text_.data());
    set_option(e, CURLOPT_WRITEFUNCTION, &Transfer::write_callback);
    set_option(e, CURLOPT_WRITEDATA, static_cast<void*>(this));
    set_option(e, CURLOPT_HEADERFUNCTION, &Transfer::header_callback);
    set_option(e, CURLOPT_HEADERDATA, static_cast<void*>(this));
}

void Transfer::begin_attempt() noexcept {
    result_ = CURLE_OK;
    status_ = 0;
    file_scheme_ = false;
    headers_.clear();
    body_.clear();
    bytes_ = 0;
    sink_bytes_ = 0;
    sink_error_ = nullptr;
    error_text_[0] = '\0';
}

void Transfer::end_attempt(CURLcode result) noexcept {
    result_ = result;
    long status = 0;
    if (curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 0)
        status_ = status;
    char* scheme = nullptr;
    file_scheme_ = curl_easy_getinfo(easy_.get(), CURLINFO_SCHEME, &scheme) == CURLE_OK && scheme &&
                   strcasecmp(scheme, "file") == 0;
    if (file_scheme_) {
        // file:// has no status: a file that cannot be read is the same answer as HTTP's 404.
        if (result_ == CURLE_FILE_COULDNT_READ_FILE) {
            result_ = CURLE_OK;
            status_ = 404;
        } else if (result_ == CURLE_OK) {
            status_ = 200;
        }
    }
}

AttemptOutcome Transfer::outcome() const noexcept {
    return AttemptOutcome{
        .curl_code = static_cast<int>(result_),
        .status = status_,
        .sink_received = sink_bytes_ > 0,
        .restartable = static_cast<bool>(request_.restart),
    };
}

Response Transfer::take_response(unsigned attempts) {
    Response r;
    r.status = status_;
    r.headers = std::move(headers_);
    r.body = std::move(body_);
    char* effective = nullptr;
    if (curl_easy_getinfo(easy_.get(), CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
        r.effective_url = effective;
    else
        r.effective_url = request_.url;
    r.bytes = bytes_;
    r.attempts = attempts;
    return r;
}

std::string Transfer::failure_reason() const {
    if (result_ == CURLE_OK) return fmt::format("HTTP status {}", status_);
    std::string_view detail(error_text_.data());
    detail = trim(detail);
    if (detail.empty()) return fmt::format("{} (curl error {})", curl_easy_strerror(result_), int(result_));
    return fmt::format("{} (curl error {})", detail, int(result_));
}

// ---- Callbacks from inside curl.

bool Transfer::delivers_to_sink() const noexcept {
    // Only a success's body is the file; a 404 page or a redirect's body is not. file:// has no status.
    return request_.sink && (status_ == 0 || (status_ >= 200 && status_ < 300));
}

bool Transfer::held_by_gate() {
    return pausable_ && request_.gate && delivers_to_sink() && request_.gate->hold(resume_);
}

void Transfer::on_body(std::string_view data) {
    bytes_ += data.size();
    if (delivers_to_sink()) {
        sink_bytes_ += data.size();
        request_.sink(data);
    } else if (!request_.sink || body_.size() < kMaxErrorBody) {
        bool success = status_ == 0 || (status_ >= 200 && status_ < 300);
        if (success && request_.max_body && body_.size() + data.size() > request_.max_body)
            throw Error("the answer is larger than the limit of {} bytes", request_.max_body);
        std::size_t room = success ? data.size() : std::min(data.size(), kMaxErrorBody - body_.size());
        body_.append(data.substr(0, room));
    }
}

void Transfer::on_header(std::string_view line) {
    if (long status = parse_status_line(line)) {
        // A new response (after a redirect or a 100 Continue): forget the previous one's headers.
        status_ = status;
        headers_.clear();
        return;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    headers_.push_back({std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
}

std::size_t Transfer::write_callback(char* data, std::size_t size, std::size_t count, void* self) noexcept {
    auto* t = static_cast<Transfer*>(self);
    try {
        // curl keeps the piece and delivers it again once the transfer is unpaused.
        if (t->held_by_gate()) return CURL_WRITEFUNC_PAUSE;
        t->on_body(std::string_view(data, size * count));
        return size * count;
    } catch (...) {
        t->sink_error_ = std::current_exception();
        return CURL_WRITEFUNC_ERROR;
    }
}

std::size_t Transfer::header_callback(char* data, std::size_t size, std::size_t count, void* self) noexcept {
    try {
        static_cast<Transfer*>(self)->on_header(std::string_view(data, size * count));
        return size * count;
    } catch (...) {
        return CURL_WRITEFUNC_ERROR; // out of memory: curl fails the transfer
    }
}

} // namespace ferry::http::detail
