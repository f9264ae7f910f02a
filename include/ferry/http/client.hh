#pragma once
/// The HTTP client: many concurrent transfers (libcurl's multi_socket interface) on one Asio event loop.

#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "ferry/http/error.hh"
#include "ferry/http/options.hh"
#include "ferry/http/request.hh"

namespace ferry::http {

namespace detail {
class ClientCore;
}

/// Numbers for tests and benchmarks. Read them on the client's thread.
struct ClientCounters {
    /// Attempts handed to curl (a retried request counts once per attempt).
    std::uint64_t requests_started = 0;
    /// Attempts that were followed by another one.
    std::uint64_t retries = 0;
    /// Body bytes received, every attempt included.
    std::uint64_t bytes = 0;
    /// Attempts running now / waiting for a slot now.
    unsigned active = 0;
    unsigned queued = 0;
    /// The most attempts that ever ran at once.
    unsigned peak_active = 0;
};

/// Fetches URLs with at most `max_connections` transfers at once, reusing connections, retrying
/// transient failures with exponential backoff.
///
/// Threading: the Client and every awaitable it returns belong to one io_context thread (the one running
/// `executor`); use them from that thread only. Nothing is locked.
///
/// Lifetime: the Client owns curl's multi handle and its sockets. Destroying it (or shutdown()) fails
/// every transfer still queued or running with HttpError::Kind::shut_down; their coroutines may still
/// resume afterwards (they keep the internals alive), but must not use the Client object.
///
/// Cancellation: each awaitable honours Asio's per-operation cancellation (any type: terminal, partial,
/// total), e.g. `co_spawn(ex, client.get(r), bind_cancellation_slot(signal.slot(), handler))` or
/// `awaitable_operators::operator||`. A cancelled transfer stops at once, frees its slot and fails
/// with HttpError::Kind::cancelled.
class Client {
public:
    explicit Client(boost::asio::any_io_executor executor, ClientOptions options = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// GET `request.url`. Returns the response for 2xx, 403, 404 and 410 (file://: 200 or 404); throws
    /// HttpError for anything else once retries are exhausted, or the sink's exception.
    boost::asio::awaitable<Response> get(Request request);
    /// HEAD `request.url`: like get(), without a body.
    boost::asio::awaitable<Response> head(Request request);

    /// Fails every queued and running transfer (HttpError::Kind::shut_down) and closes all connections.
    /// Later requests fail the same way. Called by the destructor.
    void shutdown();

    const ClientCounters& counters() const noexcept;
    const ClientOptions& options() const noexcept;

private:
    std::shared_ptr<detail::ClientCore> core_;
};

} // namespace ferry::http
