#include "curl_multi.hh"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "ferry/util/events.hh"

namespace ferry::http::detail {

namespace asio = boost::asio;

namespace {

/// What a socket number currently stands for: numbers are reused as soon as they are closed.
struct SocketIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const SocketIdentity&) const = default;
};

SocketIdentity identity_of(curl_socket_t fd) noexcept {
    struct stat st {};
    if (fstat(fd, &st) != 0) return {};
    return {st.st_dev, st.st_ino};
}

constexpr int kRead = 0;
constexpr int kWrite = 1;

int poll_mask(int direction) {
    return direction == kRead ? CURL_POLL_IN : CURL_POLL_OUT;
}

} // namespace

/// Watches one socket number for curl. Registered with Asio's reactor through a stream_descriptor that
/// never owns the socket. When the number comes to stand for another socket (curl closed one and opened
/// another), the registration is renewed (rebind) and waits queued for the old one are ignored.
struct CurlMulti::Watch : std::enable_shared_from_this<Watch> {
    Watch(const asio::any_io_executor& executor, curl_socket_t socket) : descriptor(executor), fd(socket) {
        bind();
    }
    ~Watch() { unbind(); }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    void bind() {
        descriptor.assign(fd);
        identity = identity_of(fd);
        released = false;
    }
    /// Forgets the registration; pending waits complete as aborted, and are ignored.
    void unbind() noexcept {
        ++generation;
        waiting[kRead] = waiting[kWrite] = false;
        if (descriptor.is_open()) descriptor.release();
        released = true;
    }
    void rebind() {
        unbind();
        bind();
    }
    bool stale() const noexcept { return released || identity != identity_of(fd); }

    asio::posix::stream_descriptor descriptor;
    curl_socket_t fd;
    SocketIdentity identity;
    int wanted = 0;                   // CURL_POLL_IN / OUT / INOUT
    bool waiting[2] = {false, false}; // an async_wait is queued, per direction
    bool released = true;
    std::uint64_t generation = 0;
};

CurlMulti::CurlMulti(asio::any_io_executor executor, const Limits& limits, DoneFn on_done)
    : executor_(std::move(executor)), on_done_(std::move(on_done)), multi_(curl_multi_init()),
      timer_(executor_) {
    if (!multi_) throw Error("cannot create a curl multi handle");
    CURLM* m = multi_.get();
    set_multi_option(m, CURLMOPT_SOCKETFUNCTION, &CurlMulti::socket_callback);
    set_multi_option(m, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
    set_multi_option(m, CURLMOPT_TIMERFUNCTION, &CurlMulti::timer_callback);
    set_multi_option(m, CURLMOPT_TIMERDATA, static_cast<void*>(this));
    set_multi_option(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, limits.max_connections);
    set_multi_option(m, CURLMOPT_MAX_HOST_CONNECTIONS, limits.max_connections);
    set_multi_option(m, CURLMOPT_MAXCONNECTS, limits.max_connections);
    set_multi_option(m, CURLMOPT_PIPELINING, limits.multiplex ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
}

CurlMulti::~CurlMulti() {
    // curl closes its connections here, through our callbacks: keep every member alive until it is done.
    multi_.reset();
    for (auto& [fd, watch] : watches_)
        watch->unbind();
    watches_.clear();
}

void CurlMulti::prepare(CURL* easy) {
    set_option(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::open_socket_callback);
    set_option(easy, CURLOPT_OPENSOCKETDATA, static_cast<void*>(this));
    set_option(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::close_socket_callback);
    set_option(easy, CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
}

void CurlMulti::add(CURL* easy) {
    if (CURLMcode rc = curl_multi_add_handle(multi_.get(), easy); rc != CURLM_OK)
        throw Error("cannot start a transfer: {}", curl_multi_strerror(rc));
}

void CurlMulti::remove(CURL* easy) noexcept {
    if (CURLMcode rc = curl_multi_remove_handle(multi_.get(), easy); rc != CURLM_OK)
        warn("curl_multi_remove_handle: {}", curl_multi_strerror(rc));
}

// ---- curl's callbacks: no exception crosses them, and they never call back into curl's multi API.

int CurlMulti::socket_callback(CURL*, curl_socket_t fd, int what, void* self, void* socketp) noexcept {
    try {
        static_cast<CurlMulti*>(self)->on_socket(fd, what, socketp);
        return 0;
    } catch (const std::exception& e) {
        log_error("cannot watch socket {} for curl: {}", fd, e.what());
    } catch (...) {
        log_error("cannot watch socket {} for curl", fd);
    }
    return -1;
}

int CurlMulti::timer_callback(CURLM*, long timeout_ms, void* self) noexcept {
    try {
        static_cast<CurlMulti*>(self)->on_timer(timeout_ms);
        return 0;
    } catch (...) {
        log_error("cannot set curl's timer");
    }
    return -1;
}

curl_socket_t CurlMulti::open_socket_callback(void* self, curlsocktype, curl_sockaddr* address) noexcept {
    curl_socket_t fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    try {
        // A watch still on this number means curl closed a socket without CURL_POLL_REMOVE first (curl
        // 7.88 always removes first, even for its resolver's socket pair, but nothing documents it).
        // Renew the watch now, for the new socket, so the reactor never keeps the dead one.
        auto* multi = static_cast<CurlMulti*>(self);
        if (auto it = multi->watches_.find(fd); it != multi->watches_.end()) {
            it->second->rebind();
            multi->arm(it->second);
        }
        return fd;
    } catch (...) {
        ::close(fd);
        return CURL_SOCKET_BAD;
    }
}

int CurlMulti::close_socket_callback(void* self, curl_socket_t fd) noexcept {
    // Normally curl has sent CURL_POLL_REMOVE already; if not, take the socket out of the reactor
    // before the number can be reused. The watch stays until curl removes it (curl may still hold it).
    auto* multi = static_cast<CurlMulti*>(self);
    if (auto it = multi->watches_.find(fd); it != multi->watches_.end()) it->second->unbind();
    return ::close(fd);
}

// ---- Socket watching.

void CurlMulti::on_socket(curl_socket_t fd, int what, void* socketp) {
    if (what == CURL_POLL_REMOVE) {
        forget(fd);
        return;
    }
    WatchPtr watch = watch_for(fd, socketp);
    watch->wanted = what;
    arm(watch);
}

CurlMulti::WatchPtr CurlMulti::watch_for(curl_socket_t fd, void* socketp) {
    WatchPtr watch;
    if (socketp) {
        watch = static_cast<Watch*>(socketp)->shared_from_this();
    } else if (auto it = watches_.find(fd); it != watches_.end()) {
        watch = it->second;
    }
    if (!watch) {
        watch = std::make_shared<Watch>(executor_, fd);
        watches_[fd] = watch;
    } else if (watch->stale()) {
        watch->rebind();
    }
    if (socketp != watch.get()) curl_multi_assign(multi_.get(), fd, watch.get());
    return watch;
}

void CurlMulti::forget(curl_socket_t fd) noexcept {
    auto it = watches_.find(fd);
    if (it == watches_.end()) return;
    it->second->unbind();
    watches_.erase(it);
}

void CurlMulti::arm(const WatchPtr& watch) {
    for (int direction : {kRead, kWrite}) {
        if (watch->released || watch->waiting[direction] || !(watch->wanted & poll_mask(direction))) continue;
        watch->waiting[direction] = true;
        auto type = direction == kRead ? asio::posix::descriptor_base::wait_read
                                       : asio::posix::descriptor_base::wait_write;
        watch->descriptor.async_wait(type, [weak = weak_from_this(), watch, direction,
                                            generation = watch->generation](boost::system::error_code ec) {
            if (watch->generation != generation) return; // a wait on a registration since replaced
            watch->waiting[direction] = false;
            if (ec == asio::error::operation_aborted) return;
            if (auto self = weak.lock()) self->on_ready(watch, direction, ec);
        });
    }
}

void CurlMulti::on_ready(const WatchPtr& watch, int direction, boost::system::error_code ec) {
    if (!(watch->wanted & poll_mask(direction))) return; // curl lost interest meanwhile
    int events = ec ? CURL_CSELECT_ERR : direction == kRead ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    act(watch->fd, events);
    arm(watch); // a no-op if curl removed it or re-armed it from its callback
}

// ---- curl's timer.

void CurlMulti::on_timer(long timeout_ms) {
    std::uint64_t generation = ++timer_generation_;
    timer_.cancel();
    if (timeout_ms < 0) return;
    auto wake = [weak = weak_from_this(), generation] {
        if (auto self = weak.lock(); self && self->timer_generation_ == generation)
            self->act(CURL_SOCKET_TIMEOUT, 0);
    };
    if (timeout_ms == 0) {
        asio::post(executor_, std::move(wake));
        return;
    }
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([wake = std::move(wake)](boost::system::error_code ec) {
        if (!ec) wake();
    });
}

// ---- Driving curl.

void CurlMulti::act(curl_socket_t fd, int events) {
    int running = 0;
    if (CURLMcode rc = curl_multi_socket_action(multi_.get(), fd, events, &running); rc != CURLM_OK)
        warn("curl_multi_socket_action: {}", curl_multi_strerror(rc));
    collect_done();
}

void CurlMulti::collect_done() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_.get(), &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        // The message dies with the handle's removal, which on_done_ does: copy it first.
        CURL* easy = message->easy_handle;
        CURLcode result = message->data.result;
        on_done_(easy, result);
    }
}

} // namespace ferry::http::detail
