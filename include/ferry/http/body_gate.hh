#pragma once
/// Back-pressure for a body sink whose consumer is slower than the network (e.g. it hands the bytes to
/// a thread pool that decompresses and unpacks them).

#include <functional>
#include <mutex>

namespace ferry::http {

/// A gate in front of a request's sink. The consumer closes it when it holds enough unprocessed bytes
/// and opens it again once it has caught up. While it is closed, the transfer pauses before the next
/// piece of body reaches the sink: curl stops reading the socket, and the piece is delivered after the
/// gate opens. Only http:// and https:// transfers pause; a file:// read runs to its end regardless
/// (curl reads local files in one go).
///
/// Threading: close(), open() and is_open() may be called from any thread. Ownership: shared between
/// the request (Request::gate) and whoever consumes the body.
class BodyGate {
public:
    BodyGate() = default;
    BodyGate(const BodyGate&) = delete;
    BodyGate& operator=(const BodyGate&) = delete;

    /// Holds back the body from the next piece on.
    void close() noexcept;
    /// Lets the body through again; a paused transfer resumes (through its client's event loop).
    void open();
    bool is_open() const noexcept;

    /// For the Client, on its thread: when the gate is closed, keeps `resume` to be called once it opens
    /// and returns true (the caller pauses the transfer); returns false when it is open. `resume` may be
    /// called from any thread.
    bool hold(std::function<void()> resume);

private:
    mutable std::mutex mutex_;
    bool open_ = true;
    std::function<void()> resume_;
};

} // namespace ferry::http
