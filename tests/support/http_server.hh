#pragma once
/// A small HTTP/1.1 server for tests and benchmarks: serves a directory on 127.0.0.1 from its own thread,
/// with faults injected on demand and counters of what it saw.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::test {

/// A misbehaviour applied to the requests of the paths a rule matches.
struct HttpFault {
    enum class Reset {
        none,
        before_headers, ///< read the request, then reset the connection (RST) without answering
        mid_body,       ///< send the headers and half the body, then reset the connection
    };

    /// Wait this long before answering.
    std::chrono::milliseconds delay{0};
    /// Answer with this status (and a short body) instead of the file. 0: no.
    int status = 0;
    /// Answer 302 with this Location (and a short body) instead of the file. Empty: no.
    std::string redirect_to;
    /// Announce the whole Content-Length, send only this many body bytes, then close the connection.
    std::optional<std::size_t> truncate_at;
    Reset reset = Reset::none;
    /// Send the body `trickle_bytes` at a time, waiting `trickle_interval` before each piece. 0: no.
    std::size_t trickle_bytes = 0;
    std::chrono::milliseconds trickle_interval{0};
    /// The fault applies to the first `times` requests of each path; later ones are served normally.
    /// Negative: always.
    int times = -1;
};

/// One request, as the server read it.
struct RequestRecord {
    std::string path; ///< without the query
    std::chrono::steady_clock::time_point time;
};

/// Serves the files under `root` (GET and HEAD; 404 when missing) on 127.0.0.1, on an ephemeral port,
/// with keep-alive. Each connection is one coroutine on the server's own io_context and thread.
///
/// Threading: every public member may be called from any thread. Ownership: the destructor stops the
/// server, closes its connections and joins its thread.
class HttpServer {
public:
    explicit HttpServer(std::filesystem::path root);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::uint16_t port() const;
    /// "http://127.0.0.1:<port>" followed by `path` (a '/' is added in front when missing).
    std::string url(std::string_view path = "/") const;

    /// Applies `fault` to requests whose path (without the query) matches the glob `pattern` (fnmatch,
    /// '*' also matches '/'). When several rules match, the one set last wins. Replaces a rule with the
    /// same pattern, and its per-path counts.
    void set_fault(const std::string& pattern, HttpFault fault);
    /// Applies `fault` to requests no rule matches.
    void set_default_fault(HttpFault fault);
    /// Removes every rule and the default fault (and the random faults).
    void clear_faults();
    /// Applies one of `faults` (chosen uniformly) to each request that no rule matches with probability
    /// `probability`, drawn from a generator seeded with `seed`. Replaces the default fault's role.
    void set_random_faults(double probability, std::vector<HttpFault> faults, unsigned seed);
    /// Requests to which a fault (of a rule, the default or a random one) was applied so far.
    std::uint64_t faults() const;

    /// Requests read so far.
    std::uint64_t requests() const;
    /// Connections accepted so far.
    std::uint64_t connections() const;
    /// Requests in flight now: from the request read to the start of the response's last write.
    int in_flight() const;
    /// The most requests that were ever in flight at once.
    int peak_in_flight() const;
    /// Requests for `path` so far (faulty ones included).
    std::uint64_t hits(const std::string& path) const;
    /// The value of header `name` in the last request for `path`; nothing when absent.
    std::optional<std::string> request_header(const std::string& path, const std::string& name) const;
    /// Every request read so far, in the order read (faulty ones included).
    std::vector<RequestRecord> request_log() const;
    /// Sets every counter to zero (and empties the request log).
    void reset_stats();

private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace ferry::test
