#pragma once
/// What a transfer asks for (Request) and what it brings back (Response).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::http {

class BodyGate;

/// Receives a body as it arrives, in order, in pieces of any size. It runs on the client's io_context
/// thread, inside curl's processing: it must not call into the Client (post or spawn work instead).
/// An exception thrown from it aborts the transfer and rises, unchanged, from the awaitable.
using BodySink = std::function<void(std::string_view)>;

/// One header line, name and value without the colon and surrounding blanks.
struct Header {
    std::string name;
    std::string value;
};

/// A request. Moved into the Client, which owns it until the transfer ends.
///
/// Not an aggregate on purpose: GCC 12 destroys an aggregate (or a lambda with by-value captures) that
/// is built as a temporary inside a co_await expression twice. With constructors,
/// `co_await client.get(url)` and `co_await client.get(Request(url).with_sink(s))` are safe; build a
/// sink lambda that captures by value into a named variable first.
struct Request {
    Request() = default;
    /// Implicit, so that `client.get(url)` works.
    Request(std::string url_) : url(std::move(url_)) {}
    Request(const char* url_) : url(url_) {}

    Request&& with_header(std::string name, std::string value) && {
        headers.push_back({std::move(name), std::move(value)});
        return std::move(*this);
    }
    Request&& with_sink(BodySink sink_) && {
        sink = std::move(sink_);
        return std::move(*this);
    }
    Request&& with_restart(std::function<void()> restart_) && {
        restart = std::move(restart_);
        return std::move(*this);
    }
    Request&& with_urgent(bool urgent_ = true) && {
        urgent = urgent_;
        return std::move(*this);
    }
    Request&& with_gate(std::shared_ptr<BodyGate> gate_) && {
        gate = std::move(gate_);
        return std::move(*this);
    }
    Request&& with_max_body(std::uint64_t bytes) && {
        max_body = bytes;
        return std::move(*this);
    }

    /// http://, https:// or file://.
    std::string url;
    /// Extra request headers.
    std::vector<Header> headers;
    /// When set, a successful (2xx) body goes here as it arrives instead of into Response::body.
    BodySink sink;
    /// When a failed attempt has already handed bytes to `sink`, the request is retried only if this is
    /// set: it is called before the retry and must reset whatever consumed the bytes, because the body
    /// is delivered again from its first byte. Without it such a failure is final.
    std::function<void()> restart;
    /// When set, the body pauses before reaching `sink` while this gate is closed (see BodyGate).
    std::shared_ptr<BodyGate> gate;
    /// Waits for a connection slot ahead of every queued request that is not urgent (FIFO among urgent
    /// ones): small latency-bound requests (narinfo queries that discovery waits on) overtake bulk
    /// downloads.
    bool urgent = false;
    /// When non-zero, a successful body kept in Response::body (no sink) may not exceed this many bytes:
    /// past it the transfer stops at once and fails (not retried) with an Error saying so, so that a
    /// huge or endless answer costs bounded memory.
    std::uint64_t max_body = 0;
};

/// The answer to a request: a 2xx, or one of the statuses that are answers rather than errors (403,
/// 404, 410). file:// URLs answer 200, or 404 when the file cannot be read.
struct Response {
    long status = 0;
    /// The final response's headers, in order.
    std::vector<Header> headers;
    /// The body, unless the request had a sink (then empty for a 2xx; an answer's body is never sent to
    /// the sink).
    std::string body;
    /// The URL after redirects.
    std::string effective_url;
    /// Body bytes received by the final attempt.
    std::uint64_t bytes = 0;
    /// How many attempts it took, the last one included.
    unsigned attempts = 0;

    bool ok() const noexcept { return status >= 200 && status < 300; }
    /// The value of the first header called `name` (compared without case), or nullptr.
    const std::string* header(std::string_view name) const;
};

} // namespace ferry::http
