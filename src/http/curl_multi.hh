#pragma once
/// The glue between libcurl's multi_socket interface and an Asio event loop. Private to the http module.
///
/// curl tells us which sockets to watch (socket callback) and when to wake it up (timer callback); we
/// watch each socket with a stream_descriptor and the timer with one steady_timer, and when either
/// fires we call curl_multi_socket_action and then collect finished transfers. curl is never called from
/// inside one of its own callbacks (curl_multi_assign aside, which curl allows there): anything that
/// must reach curl goes through the event loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "curl_handles.hh"

namespace ferry::http::detail {

/// One multi handle driven by an io_context.
///
/// Ownership: owns the multi handle and a watcher per socket curl wants watched; never owns curl's
/// sockets (descriptors are released, not closed). Create it with std::make_shared: handlers queued on
/// the event loop hold weak references, so it may be destroyed at any time on its thread.
/// Threading: everything on the io_context's thread.
class CurlMulti : public std::enable_shared_from_this<CurlMulti> {
public:
    /// Called for each finished transfer with curl's result, from the event loop (never from inside
    /// curl). The callee must remove the handle (remove()) before the handle is destroyed.
    using DoneFn = std::function<void(CURL* easy, CURLcode result)>;

    struct Limits {
        long max_connections = 150; ///< total and per host; also the size of the connection cache
        bool multiplex = true;      ///< HTTP/2 multiplexing
    };

    CurlMulti(boost::asio::any_io_executor executor, const Limits& limits, DoneFn on_done);
    ~CurlMulti();
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    /// Points `easy`'s socket open/close callbacks at this multi, so that a socket number curl closes
    /// and reuses never stays registered with Asio. Call once per easy handle before add().
    void prepare(CURL* easy);
    /// curl_multi_add_handle; throws Error when curl refuses.
    void add(CURL* easy);
    /// curl_multi_remove_handle. Not from inside a curl callback.
    void remove(CURL* easy) noexcept;

private:
    struct Watch;
    using WatchPtr = std::shared_ptr<Watch>;

    static int socket_callback(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp) noexcept;
    static int timer_callback(CURLM* multi, long timeout_ms, void* self) noexcept;
    static curl_socket_t open_socket_callback(void* self, curlsocktype purpose,
                                              curl_sockaddr* address) noexcept;
    static int close_socket_callback(void* self, curl_socket_t fd) noexcept;

    void on_socket(curl_socket_t fd, int what, void* socketp);
    void on_timer(long timeout_ms);
    void forget(curl_socket_t fd) noexcept;
    WatchPtr watch_for(curl_socket_t fd, void* socketp);
    void arm(const WatchPtr& watch);
    void on_ready(const WatchPtr& watch, int direction, boost::system::error_code ec);
    void act(curl_socket_t fd, int events);
    void collect_done();

    boost::asio::any_io_executor executor_;
    DoneFn on_done_;
    MultiHandle multi_;
    boost::asio::steady_timer timer_;
    /// Bumped by every timer callback: a wake-up queued for an older one does nothing.
    std::uint64_t timer_generation_ = 0;
    std::unordered_map<curl_socket_t, WatchPtr> watches_;
};

} // namespace ferry::http::detail
