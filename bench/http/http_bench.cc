/// http-bench: fetches N small narinfo-like files from the test HTTP server, with the server waiting
/// 0 ms and 100 ms before each answer, and prints the throughput, the wall time, the server's peak
/// concurrency and the floor the connection limit sets (ceil(N / connections) × delay).
///
///   http-bench [--requests N] [--connections N] [--delays MS,MS,...]

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "ferry/http/client.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "support/http_server.hh"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct Settings {
    unsigned requests = 2000;
    unsigned connections = ferry::http::ClientOptions{}.max_connections;
    std::vector<unsigned> delays_ms{0, 100};
};

unsigned parse_number(std::string_view text, std::string_view option) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        throw ferry::UsageError("{}: '{}' is not a number", option, text);
    return value;
}

Settings parse_arguments(int argc, char** argv) {
    Settings s;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i + 1 >= args.size()) throw ferry::UsageError("{} needs a value", args[i]);
        std::string_view value = args[i + 1];
        if (args[i] == "--requests") {
            s.requests = parse_number(value, args[i]);
        } else if (args[i] == "--connections") {
            s.connections = parse_number(value, args[i]);
        } else if (args[i] == "--delays") {
            s.delays_ms.clear();
            for (std::size_t start = 0; start <= value.size();) {
                std::size_t comma = std::min(value.find(',', start), value.size());
                s.delays_ms.push_back(parse_number(value.substr(start, comma - start), args[i]));
                start = comma + 1;
            }
        } else {
            throw ferry::UsageError("unknown option '{}'", args[i]);
        }
        ++i;
    }
    if (s.requests == 0 || s.connections == 0)
        throw ferry::UsageError("--requests and --connections must be > 0");
    return s;
}

/// A narinfo-sized file (about 600 bytes) that looks the part.
std::string narinfo(unsigned i) {
    std::string hash(32, 'a');
    for (unsigned j = 0, n = i; j < 8; ++j, n /= 7)
        hash[j] = "0123456789abcdfghijklmnpqrsvwxyz"[(n + j) % 32];
    return fmt::format("StorePath: /nix/store/{0}-package-{1}\nURL: nar/{0}.nar.xz\nCompression: xz\n"
                       "FileHash: sha256:{0}{0}\nFileSize: {2}\nNarHash: sha256:{0}{0}\nNarSize: {3}\n"
                       "References: {0}-package-{1} {0}-glibc-2.37\nDeriver: {0}-package-{1}.drv\n"
                       "Sig: cache.example.org-1:{0}{0}{0}==\n",
                       hash, i, 1000 + i, 4000 + i);
}

struct RunResult {
    double seconds = 0;
    unsigned ok = 0;
    unsigned failed = 0;
    unsigned client_peak = 0;
};

RunResult fetch_all(ferry::test::HttpServer& server, const Settings& s) {
    asio::io_context io(1);
    ferry::http::ClientOptions options;
    options.max_connections = s.connections;
    RunResult result;
    {
        ferry::http::Client client(io.get_executor(), options);
        unsigned finished = 0;
        auto start = Clock::now();
        for (unsigned i = 0; i < s.requests; ++i) {
            asio::co_spawn(io, client.get(server.url(fmt::format("/{}.narinfo", i))),
                           [&](std::exception_ptr e, ferry::http::Response r) {
                               ++finished;
                               if (!e && r.status == 200)
                                   ++result.ok;
                               else
                                   ++result.failed;
                           });
        }
        while (finished < s.requests && io.run_one() > 0) {
        }
        result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        result.client_peak = client.counters().peak_active;
    }
    return result;
}

void run(const Settings& s) {
    ferry::TempDir dir;
    for (unsigned i = 0; i < s.requests; ++i)
        ferry::write_file_atomic(dir.path() / fmt::format("{}.narinfo", i), narinfo(i));
    ferry::test::HttpServer server(dir.path());
    fmt::print("http-bench: {} narinfo-like files, {} connections, server {}\n", s.requests, s.connections,
               server.url());
    fmt::print("{:>8} {:>9} {:>10} {:>9} {:>11} {:>12} {:>8}\n", "delay", "wall", "req/s", "floor",
               "server peak", "client peak", "failed");
    for (unsigned delay : s.delays_ms) {
        server.set_default_fault({.delay = std::chrono::milliseconds(delay)});
        server.reset_stats();
        RunResult r = fetch_all(server, s);
        unsigned rounds = (s.requests + s.connections - 1) / s.connections;
        double floor = rounds * delay / 1000.0;
        fmt::print("{:>6}ms {:>8.3f}s {:>10.0f} {:>8.3f}s {:>11} {:>12} {:>8}\n", delay, r.seconds,
                   s.requests / r.seconds, floor, server.peak_in_flight(), r.client_peak, r.failed);
    }
}

} // namespace

int main(int argc, char** argv) {
    // curl honours these even for 127.0.0.1: talk to the test server directly.
    for (const char* name :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
        ::unsetenv(name);
    try {
        run(parse_arguments(argc, argv));
        return 0;
    } catch (const ferry::UsageError& e) {
        std::fprintf(stderr,
                     "http-bench: %s\nusage: http-bench [--requests N] [--connections N] "
                     "[--delays MS,MS,...]\n",
                     e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "http-bench: %s\n", e.what());
        return 1;
    }
}
