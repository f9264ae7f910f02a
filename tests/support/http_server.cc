#include "support/http_server.hh"

#include <fnmatch.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
// Beast 1.81's parser trips GCC 12's -Wmaybe-uninitialized (a false positive inside Boost).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <spdlog/spdlog.h>

#include "ferry/util/file.hh"

namespace ferry::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr std::size_t kPiece = 64 * 1024;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Rule {
    std::string pattern;
    HttpFault fault;
    std::unordered_map<std::string, int> seen; // requests to which the fault was applied, per path
};

/// "/a/b?x=1" → "/a/b".
std::string path_of(std::string_view target) {
    return std::string(target.substr(0, target.find('?')));
}

/// The file a path names under `root`, or nothing when it escapes the root or is not a regular file.
std::optional<std::string> load(const std::filesystem::path& root, const std::string& path) {
    std::filesystem::path relative = std::filesystem::path(path).relative_path().lexically_normal();
    if (relative.empty() || *relative.begin() == "..") return std::nullopt;
    std::filesystem::path file = root / relative;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
    try {
        return ferry::read_file(file);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void reset_connection(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().set_option(asio::socket_base::linger(true, 0), ec);
    stream.socket().close(ec);
}

void close_connection(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.socket().close(ec);
}

} // namespace

struct HttpServer::State {
    explicit State(std::filesystem::path r) : root(std::move(r)) {}

    /// Counts a request in flight for as long as it lives, or until end().
    class InFlight {
    public:
        explicit InFlight(State& state) : state_(state) {
            int now = ++state_.in_flight;
            int peak = state_.peak.load();
            while (now > peak && !state_.peak.compare_exchange_weak(peak, now)) {
            }
        }
        ~InFlight() { end(); }
        InFlight(const InFlight&) = delete;
        InFlight& operator=(const InFlight&) = delete;
        void end() {
            if (active_) --state_.in_flight;
            active_ = false;
        }

    private:
        State& state_;
        bool active_ = true;
    };

    std::optional<HttpFault> take_fault(const std::string& path,
                                        const http::request<http::string_body>& request);
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(tcp::socket socket);
    asio::awaitable<bool> respond(beast::tcp_stream& stream, const http::request<http::string_body>& request,
                                  InFlight& in_flight);
    asio::awaitable<bool> send_status(beast::tcp_stream& stream, unsigned version, bool keep_alive,
                                      unsigned status, InFlight& in_flight, const std::string& location = {});
    asio::awaitable<bool> send_body(beast::tcp_stream& stream, std::string_view body, const HttpFault& fault,
                                    InFlight& in_flight);

    std::filesystem::path root;
    mutable std::mutex mutex; // guards rules, default_rule, hits, last_headers, log
    std::vector<Rule> rules;
    std::optional<Rule> default_rule;
    double random_probability = 0;
    std::vector<HttpFault> random_faults;
    std::mt19937 random{0};
    std::uint64_t faulted = 0;
    std::unordered_map<std::string, std::uint64_t> hits;
    std::unordered_map<std::string, http::fields> last_headers;
    std::vector<RequestRecord> log;
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> connections{0};
    std::atomic<int> in_flight{0};
    std::atomic<int> peak{0};
    // Declared last: destroying them destroys the sessions, which use the members above.
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::thread thread;
};

std::optional<HttpFault> HttpServer::State::take_fault(const std::string& path,
                                                       const http::request<http::string_body>& request) {
    std::lock_guard lock(mutex);
    log.push_back({path, std::chrono::steady_clock::now()});
    ++hits[path];
    last_headers[path] = request.base();
    Rule* rule = nullptr;
    for (auto it = rules.rbegin(); it != rules.rend() && !rule; ++it)
        if (fnmatch(it->pattern.c_str(), path.c_str(), 0) == 0) rule = &*it;
    if (!rule && default_rule) rule = &*default_rule;
    if (!rule && !random_faults.empty()) {
        if (std::uniform_real_distribution<double>(0, 1)(random) >= random_probability) return std::nullopt;
        ++faulted;
        return random_faults[std::uniform_int_distribution<std::size_t>(0, random_faults.size() - 1)(random)];
    }
    if (!rule) return std::nullopt;
    int& seen = rule->seen[path];
    if (rule->fault.times >= 0 && seen >= rule->fault.times) return std::nullopt;
    ++seen;
    ++faulted;
    return rule->fault;
}

asio::awaitable<void> HttpServer::State::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of descriptors, most likely: breathe instead of spinning.
            asio::steady_timer pause(io, std::chrono::milliseconds(10));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        ++connections;
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(io, session(std::move(socket)), [](std::exception_ptr error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                spdlog::warn("test HTTP server: session failed: {}", e.what());
            }
        });
    }
}

asio::awaitable<void> HttpServer::State::session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> request;
        stream.expires_after(kIoTimeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, request, use_tuple);
        if (ec) co_return; // the client closed, went silent, or sent garbage
        ++requests;
        InFlight in_flight(*this);
        if (!co_await respond(stream, request, in_flight)) co_return;
    }
}

asio::awaitable<bool> HttpServer::State::respond(beast::tcp_stream& stream,
                                                 const http::request<http::string_body>& request,
                                                 InFlight& in_flight) {
    std::string path = path_of(request.target());
    HttpFault fault = take_fault(path, request).value_or(HttpFault{});
    if (fault.delay.count() > 0) {
        asio::steady_timer timer(io, fault.delay);
        co_await timer.async_wait(use_tuple);
    }
    if (fault.reset == HttpFault::Reset::before_headers) {
        in_flight.end();
        reset_connection(stream);
        co_return false;
    }
    bool keep_alive = request.keep_alive();
    if (!fault.redirect_to.empty())
        co_return co_await send_status(stream, request.version(), keep_alive, 302, in_flight,
                                       fault.redirect_to);
    if (fault.status != 0)
        co_return co_await send_status(stream, request.version(), keep_alive, fault.status, in_flight);
    std::optional<std::string> body;
    if (request.method() == http::verb::get || request.method() == http::verb::head) body = load(root, path);
    if (!body) co_return co_await send_status(stream, request.version(), keep_alive, 404, in_flight);

    http::response<http::empty_body> response{http::status::ok, request.version()};
    response.set(http::field::server, "ferry-test");
    response.set(http::field::content_type,
                 path.ends_with(".narinfo") ? "text/x-nix-narinfo" : "application/octet-stream");
    response.content_length(body->size());
    response.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> serializer{response};
    bool headers_only = request.method() == http::verb::head || body->empty();
    if (headers_only) in_flight.end();
    stream.expires_after(kIoTimeout);
    auto [ec, n] = co_await http::async_write_header(stream, serializer, use_tuple);
    if (ec) co_return false;
    if (headers_only) co_return keep_alive;
    co_return co_await send_body(stream, *body, fault, in_flight) && keep_alive;
}

asio::awaitable<bool> HttpServer::State::send_status(beast::tcp_stream& stream, unsigned version,
                                                     bool keep_alive, unsigned status, InFlight& in_flight,
                                                     const std::string& location) {
    http::response<http::string_body> response{static_cast<http::status>(status), version};
    response.set(http::field::server, "ferry-test");
    if (!location.empty()) response.set(http::field::location, location);
    response.set(http::field::content_type, "text/plain");
    response.body() = std::to_string(status) + "\n";
    response.keep_alive(keep_alive);
    response.prepare_payload();
    in_flight.end();
    stream.expires_after(kIoTimeout);
    auto [ec, n] = co_await http::async_write(stream, response, use_tuple);
    co_return !ec && keep_alive;
}

/// Sends `body` (cut short or trickled as `fault` says); false when the connection is done with.
asio::awaitable<bool> HttpServer::State::send_body(beast::tcp_stream& stream, std::string_view body,
                                                   const HttpFault& fault, InFlight& in_flight) {
    std::size_t limit = body.size();
    if (fault.truncate_at && *fault.truncate_at < limit) limit = *fault.truncate_at;
    if (fault.reset == HttpFault::Reset::mid_body) limit = body.size() / 2;
    bool cut = limit < body.size();
    std::size_t piece = fault.trickle_bytes > 0 ? fault.trickle_bytes : kPiece;
    for (std::size_t offset = 0; offset < limit; offset += piece) {
        std::size_t length = std::min(piece, limit - offset);
        if (fault.trickle_bytes > 0 && fault.trickle_interval.count() > 0) {
            asio::steady_timer timer(io, fault.trickle_interval);
            co_await timer.async_wait(use_tuple);
        }
        if (offset + length == limit) in_flight.end();
        stream.expires_after(kIoTimeout);
        auto [ec, n] =
            co_await asio::async_write(stream, asio::buffer(body.substr(offset, length)), use_tuple);
        if (ec) co_return false;
    }
    if (!cut) co_return true;
    if (fault.reset == HttpFault::Reset::mid_body)
        reset_connection(stream);
    else
        close_connection(stream);
    co_return false;
}

HttpServer::HttpServer(std::filesystem::path root) : state_(std::make_unique<State>(std::move(root))) {
    tcp::endpoint endpoint(asio::ip::address_v4::loopback(), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(asio::socket_base::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(state_->io, state_->accept_loop(), [](std::exception_ptr error) {
        if (error) spdlog::error("test HTTP server: the acceptor failed");
    });
    state_->thread = std::thread([state = state_.get()] { state->io.run(); });
}

HttpServer::~HttpServer() {
    state_->io.stop();
    state_->thread.join();
}

std::uint16_t HttpServer::port() const {
    return state_->acceptor.local_endpoint().port();
}

std::string HttpServer::url(std::string_view path) const {
    std::string prefix = "http://127.0.0.1:" + std::to_string(port());
    if (!path.starts_with('/')) prefix += '/';
    return prefix + std::string(path);
}

void HttpServer::set_fault(const std::string& pattern, HttpFault fault) {
    std::lock_guard lock(state_->mutex);
    std::erase_if(state_->rules, [&](const Rule& r) { return r.pattern == pattern; });
    state_->rules.push_back(Rule{pattern, fault, {}});
}

void HttpServer::set_default_fault(HttpFault fault) {
    std::lock_guard lock(state_->mutex);
    state_->default_rule = Rule{"*", fault, {}};
}

void HttpServer::set_random_faults(double probability, std::vector<HttpFault> faults, unsigned seed) {
    std::lock_guard lock(state_->mutex);
    state_->random_probability = probability;
    state_->random_faults = std::move(faults);
    state_->random.seed(seed);
}

std::uint64_t HttpServer::faults() const {
    std::lock_guard lock(state_->mutex);
    return state_->faulted;
}

void HttpServer::clear_faults() {
    std::lock_guard lock(state_->mutex);
    state_->rules.clear();
    state_->default_rule.reset();
    state_->random_faults.clear();
}

std::uint64_t HttpServer::requests() const {
    return state_->requests;
}
std::uint64_t HttpServer::connections() const {
    return state_->connections;
}
int HttpServer::in_flight() const {
    return state_->in_flight;
}
int HttpServer::peak_in_flight() const {
    return state_->peak;
}

std::uint64_t HttpServer::hits(const std::string& path) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->hits.find(path);
    return it == state_->hits.end() ? 0 : it->second;
}

std::optional<std::string> HttpServer::request_header(const std::string& path,
                                                      const std::string& name) const {
    std::lock_guard lock(state_->mutex);
    auto it = state_->last_headers.find(path);
    if (it == state_->last_headers.end()) return std::nullopt;
    auto field = it->second.find(name);
    if (field == it->second.end()) return std::nullopt;
    return std::string(field->value());
}

std::vector<RequestRecord> HttpServer::request_log() const {
    std::lock_guard lock(state_->mutex);
    return state_->log;
}

void HttpServer::reset_stats() {
    std::lock_guard lock(state_->mutex);
    state_->log.clear();
    state_->hits.clear();
    state_->last_headers.clear();
    state_->requests = 0;
    state_->connections = 0;
    state_->peak = state_->in_flight.load();
}

} // namespace ferry::test
