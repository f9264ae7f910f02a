#include "ferry/http/client.hh"

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include "client_core.hh"

namespace ferry::http {

namespace asio = boost::asio;
using detail::AttemptEnd;
using detail::ClientCore;
using detail::Method;

namespace {

HttpError cancelled_error(const std::string& url, unsigned attempts) {
    return HttpError(HttpError::Kind::cancelled, url, "cancelled", attempts);
}

HttpError shut_down_error(const std::string& url, unsigned attempts) {
    return HttpError(HttpError::Kind::shut_down, url, "the HTTP client has shut down", attempts);
}

/// Awaits `op`; Asio's "operation aborted" (how a cancelled coroutine learns it) becomes an HttpError.
template <typename T>
asio::awaitable<T> or_cancelled(asio::awaitable<T> op, const std::string& url, unsigned attempts) {
    try {
        co_return co_await std::move(op);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw cancelled_error(url, attempts);
        throw;
    }
}

asio::awaitable<void> sleep_for(asio::any_io_executor executor, std::chrono::milliseconds delay) {
    asio::steady_timer timer(executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
}

[[noreturn]] void rethrow_sink_error(std::exception_ptr error, const std::string& url) {
    try {
        std::rethrow_exception(error);
    } catch (Error& e) {
        e.add_context(fmt::format("while downloading '{}'", url));
        throw;
    }
}

HttpError attempt_error(const detail::Transfer& transfer, const AttemptOutcome& outcome, unsigned attempt,
                        unsigned attempts) {
    std::string reason = transfer.failure_reason();
    bool transient = outcome.curl_code != 0 ? is_transient_curl_error(outcome.curl_code)
                                            : is_transient_status(outcome.status);
    if (transient && attempt < attempts && outcome.sink_received && !outcome.restartable)
        reason += "; not retried: the body was partly consumed and the request cannot restart";
    if (outcome.curl_code != 0)
        return HttpError(HttpError::Kind::transport, transfer.url(), reason, attempt, outcome.status,
                         outcome.curl_code);
    return HttpError(HttpError::Kind::status, transfer.url(), reason, attempt, outcome.status);
}

/// A request through all its attempts. Holds the core, not the Client: it may outlive the Client.
asio::awaitable<Response> run_request(std::shared_ptr<ClientCore> core, Request request, Method method) {
    std::string url = request.url;
    if (core->is_shut_down()) throw shut_down_error(url, 0);
    std::shared_ptr<detail::Job> job = core->make_job(std::move(request), method);
    const ClientOptions& options = core->options();
    for (unsigned attempt = 1;; ++attempt) {
        AttemptEnd end = co_await or_cancelled(core->attempt(job), url, attempt);
        if (end == AttemptEnd::cancelled) throw cancelled_error(url, attempt);
        if (end == AttemptEnd::shut_down) throw shut_down_error(url, attempt);
        detail::Transfer& transfer = job->transfer;
        if (auto error = transfer.sink_error()) rethrow_sink_error(error, url);
        AttemptOutcome outcome = transfer.outcome();
        switch (judge(outcome, attempt, options.attempts)) {
        case Verdict::done:
            co_return transfer.take_response(attempt);
        case Verdict::fail:
            throw attempt_error(transfer, outcome, attempt, options.attempts);
        case Verdict::retry:
            break;
        }
        ++core->counters().retries;
        auto delay =
            backoff_delay(attempt, options.retry_base_delay, options.retry_max_delay, core->jitter());
        co_await or_cancelled(sleep_for(core->executor(), delay), url, attempt);
        if (outcome.sink_received) transfer.request().restart();
    }
}

} // namespace

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : core_(std::make_shared<ClientCore>(std::move(executor), std::move(options))) {}

Client::~Client() {
    core_->shutdown();
}

asio::awaitable<Response> Client::get(Request request) {
    return run_request(core_, std::move(request), Method::get);
}

asio::awaitable<Response> Client::head(Request request) {
    return run_request(core_, std::move(request), Method::head);
}

void Client::shutdown() {
    core_->shutdown();
}

const ClientCounters& Client::counters() const noexcept {
    return core_->counters();
}

const ClientOptions& Client::options() const noexcept {
    return core_->options();
}

} // namespace ferry::http
