#include "ferry/http/client.hh"

#include <netdb.h>
#include <sys/socket.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ferry/http/body_gate.hh"
#include "ferry/util/file.hh"
#include "support/http_server.hh"
#include "support/run.hh"

namespace ferry::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ferry::test::HttpFault;
using ferry::test::HttpServer;
using ferry::test::run_task;
using ferry::test::run_until;
using testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr int kCurlPartialFile = 18;
constexpr int kCurlCouldntConnect = 7;
constexpr int kCurlTimedOut = 28;

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937_64 random(seed);
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t word = random();
        std::memcpy(data.data() + i, &word, std::min<std::size_t>(8, size - i));
    }
    return data;
}

/// A name from /etc/hosts, other than localhost (which curl answers itself), that resolves to 127.x.x.x
/// only; empty when there is none.
std::string loopback_host_name() {
    std::ifstream hosts("/etc/hosts");
    std::string line;
    while (std::getline(hosts, line)) {
        std::istringstream words(line);
        std::string address, name;
        if (!(words >> address) || !address.starts_with("127.")) continue;
        while (words >> name) {
            if (name.starts_with('#')) break;
            if (name.find("localhost") != std::string::npos) continue;
            addrinfo hints{};
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* found = nullptr;
            if (getaddrinfo(name.c_str(), nullptr, &hints, &found) != 0) continue;
            bool loopback_only = true;
            for (addrinfo* a = found; a; a = a->ai_next)
                loopback_only =
                    loopback_only && a->ai_family == AF_INET &&
                    (ntohl(reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
            freeaddrinfo(found);
            if (loopback_only) return name;
        }
    }
    return "";
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

class ClientTest : public testing::Test {
protected:
    ClientTest() {
        // curl honours these even for 127.0.0.1: talk to the test server directly.
        for (const char* name :
             {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
            ::unsetenv(name);
    }

    /// Fast retries; everything else as by default.
    static ClientOptions fast_options() {
        ClientOptions options;
        options.retry_base_delay = 1ms;
        options.retry_max_delay = 10ms;
        return options;
    }

    void put(const std::string& name, std::string_view content) {
        std::filesystem::create_directories((dir_.path() / name).parent_path());
        write_file_atomic(dir_.path() / name, content);
    }

    template <typename T> T run(asio::awaitable<T> task) { return run_task(io_, std::move(task), 20s); }

    /// Runs `task`, expecting an HttpError, and returns it.
    HttpError run_failing(asio::awaitable<Response> task) {
        try {
            Response r = run(std::move(task));
            ADD_FAILURE() << "expected an HttpError, got status " << r.status;
        } catch (const HttpError& e) {
            return e;
        }
        return HttpError(HttpError::Kind::transport, "", "none", 0);
    }

    TempDir dir_;
    HttpServer server_{dir_.path()};
    asio::io_context io_{1};
};

TEST_F(ClientTest, GetsSmallBody) {
    put("a.narinfo", "StorePath: /nix/store/aaaa-a\n");
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/a.narinfo")));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.body, "StorePath: /nix/store/aaaa-a\n");
    EXPECT_EQ(r.bytes, r.body.size());
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_EQ(r.effective_url, server_.url("/a.narinfo"));
    ASSERT_NE(r.header("content-type"), nullptr);
    EXPECT_EQ(*r.header("Content-Type"), "text/x-nix-narinfo");
    EXPECT_EQ(client.counters().requests_started, 1u);
    EXPECT_EQ(client.counters().retries, 0u);
    EXPECT_EQ(client.counters().active, 0u);
}

TEST_F(ClientTest, GetsLargeBody) {
    std::string content = random_bytes(10 << 20, 1);
    put("nar/big.nar", content);
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/nar/big.nar")));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), content.size());
    EXPECT_TRUE(r.body == content);
    EXPECT_EQ(client.counters().bytes, content.size());
}

TEST_F(ClientTest, SinkReceivesEveryByteInOrder) {
    std::string content = random_bytes(10 << 20, 2);
    put("big.nar", content);
    Client client(io_.get_executor(), fast_options());
    std::string received;
    int calls = 0;
    Response r = run(client.get(Request(server_.url("/big.nar")).with_sink([&](std::string_view data) {
        received.append(data);
        ++calls;
    })));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.bytes, content.size());
    EXPECT_GT(calls, 1);
    EXPECT_TRUE(received == content);
}

TEST_F(ClientTest, SendsUserAgentAndRequestHeaders) {
    put("h.narinfo", "x");
    Client client(io_.get_executor(), fast_options());
    run(client.get(Request(server_.url("/h.narinfo")).with_header("X-Ferry-Test", "yes")));
    EXPECT_EQ(server_.request_header("/h.narinfo", "User-Agent"), "ferry/" FERRY_VERSION);
    EXPECT_EQ(server_.request_header("/h.narinfo", "X-Ferry-Test"), "yes");
}

TEST_F(ClientTest, FollowsRedirectsAndSinksOnlyTheFinalBody) {
    put("real.nar", "the real body");
    put("old.nar", "never served");
    server_.set_fault("/old.nar", {.redirect_to = "/real.nar"});
    Client client(io_.get_executor(), fast_options());
    std::string sunk;
    Response r =
        run(client.get(Request(server_.url("/old.nar")).with_sink([&](std::string_view d) { sunk += d; })));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(sunk, "the real body");
    EXPECT_EQ(r.effective_url, server_.url("/real.nar"));
    EXPECT_EQ(server_.hits("/old.nar"), 1u);
    EXPECT_EQ(server_.hits("/real.nar"), 1u);
}

TEST_F(ClientTest, ResolvesHostNames) {
    // A name goes through curl's threaded resolver: each lookup has a socket pair that curl watches and
    // closes, and its number is reused at once by the connection's socket. The watches must follow.
    std::string host = loopback_host_name();
    if (host.empty()) GTEST_SKIP() << "no name in /etc/hosts resolves to 127.x.x.x only";
    for (int i = 0; i < 200; ++i)
        put(fmt::format("{}.narinfo", i), fmt::format("{}", i));
    ClientOptions options = fast_options();
    options.max_connections = 20;
    Client client(io_.get_executor(), options);
    std::string base = fmt::format("http://{}:{}", host, server_.port());
    unsigned ok = 0, finished = 0;
    for (int i = 0; i < 200; ++i) {
        asio::co_spawn(io_, client.get(fmt::format("{}/{}.narinfo", base, i)),
                       [&, i](std::exception_ptr e, Response r) {
                           ++finished;
                           if (!e && r.body == fmt::format("{}", i)) ++ok;
                       });
    }
    ASSERT_TRUE(run_until(
        io_, [&] { return finished == 200; }, 20s));
    EXPECT_EQ(ok, 200u);
}

TEST_F(ClientTest, HeadGivesHeadersWithoutBody) {
    put("h.nar", std::string(12345, 'x'));
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.head(server_.url("/h.nar")));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    ASSERT_NE(r.header("content-length"), nullptr);
    EXPECT_EQ(*r.header("content-length"), "12345");
}

TEST_F(ClientTest, NotFoundIsAnAnswer) {
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/missing.narinfo")));
    EXPECT_EQ(r.status, 404);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_EQ(server_.hits("/missing.narinfo"), 1u);
    EXPECT_EQ(client.counters().retries, 0u);
}

TEST_F(ClientTest, ForbiddenAndGoneAreAnswers) {
    put("f", "x");
    put("g", "x");
    server_.set_fault("/f", {.status = 403});
    server_.set_fault("/g", {.status = 410});
    Client client(io_.get_executor(), fast_options());
    std::string sunk;
    // An answer's body never reaches the sink.
    Response f =
        run(client.get(Request(server_.url("/f")).with_sink([&](std::string_view d) { sunk += d; })));
    Response g = run(client.get(server_.url("/g")));
    EXPECT_EQ(f.status, 403);
    EXPECT_EQ(g.status, 410);
    EXPECT_TRUE(sunk.empty());
    EXPECT_EQ(server_.hits("/f") + server_.hits("/g"), 2u);
}

TEST_F(ClientTest, ServerErrorThenSuccessIsRetried) {
    put("x.narinfo", "hello");
    server_.set_fault("/x.narinfo", {.status = 500, .times = 2});
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/x.narinfo")));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.attempts, 3u);
    EXPECT_EQ(client.counters().retries, 2u);
    EXPECT_EQ(client.counters().requests_started, 3u);
    EXPECT_EQ(server_.hits("/x.narinfo"), 3u);
}

TEST_F(ClientTest, PersistentServerErrorFailsAfterAllAttempts) {
    put("x.narinfo", "hello");
    server_.set_fault("/x.narinfo", {.status = 503});
    ClientOptions options = fast_options();
    options.attempts = 3;
    Client client(io_.get_executor(), options);
    HttpError e = run_failing(client.get(server_.url("/x.narinfo")));
    EXPECT_EQ(e.kind(), HttpError::Kind::status);
    EXPECT_EQ(e.status(), 503);
    EXPECT_EQ(e.attempts(), 3u);
    EXPECT_EQ(std::string(e.what()),
              fmt::format("cannot download '{}': HTTP status 503 (3 attempts)", server_.url("/x.narinfo")));
    EXPECT_EQ(server_.hits("/x.narinfo"), 3u);
    EXPECT_EQ(client.counters().retries, 2u);
}

TEST_F(ClientTest, PermanentStatusesFailWithoutRetry) {
    put("p", "x");
    put("q", "x");
    server_.set_fault("/p", {.status = 400});
    server_.set_fault("/q", {.status = 501});
    Client client(io_.get_executor(), fast_options());
    HttpError p = run_failing(client.get(server_.url("/p")));
    HttpError q = run_failing(client.get(server_.url("/q")));
    EXPECT_EQ(p.status(), 400);
    EXPECT_EQ(q.status(), 501);
    EXPECT_THAT(p.what(), HasSubstr("HTTP status 400 (1 attempt)"));
    EXPECT_EQ(server_.hits("/p"), 1u);
    EXPECT_EQ(server_.hits("/q"), 1u);
}

TEST_F(ClientTest, TruncatedBodyFailsAfterRetries) {
    put("t.nar", std::string(100000, 't'));
    server_.set_fault("/t.nar", {.truncate_at = 1000});
    ClientOptions options = fast_options();
    options.attempts = 3;
    Client client(io_.get_executor(), options);
    HttpError e = run_failing(client.get(server_.url("/t.nar")));
    EXPECT_EQ(e.kind(), HttpError::Kind::transport);
    EXPECT_EQ(e.curl_code(), kCurlPartialFile);
    EXPECT_THAT(e.what(), HasSubstr(server_.url("/t.nar")));
    EXPECT_THAT(e.what(), HasSubstr("curl error 18"));
    EXPECT_THAT(e.what(), HasSubstr("(3 attempts)"));
    EXPECT_EQ(server_.hits("/t.nar"), 3u);
}

TEST_F(ClientTest, TruncatedOnceThenComplete) {
    std::string content = random_bytes(300000, 3);
    put("t.nar", content);
    server_.set_fault("/t.nar", {.truncate_at = 5000, .times = 1});
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/t.nar")));
    EXPECT_EQ(r.attempts, 2u);
    EXPECT_TRUE(r.body == content);
}

TEST_F(ClientTest, ResetBeforeHeadersIsRetried) {
    put("r.narinfo", "reset");
    server_.set_fault("/r.narinfo", {.reset = HttpFault::Reset::before_headers, .times = 2});
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/r.narinfo")));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "reset");
    EXPECT_EQ(r.attempts, 3u);
    EXPECT_EQ(server_.hits("/r.narinfo"), 3u);
}

TEST_F(ClientTest, ResetMidBodyIsRetried) {
    std::string content = random_bytes(1 << 20, 4);
    put("r.nar", content);
    server_.set_fault("/r.nar", {.reset = HttpFault::Reset::mid_body, .times = 1});
    Client client(io_.get_executor(), fast_options());
    Response r = run(client.get(server_.url("/r.nar")));
    EXPECT_EQ(r.attempts, 2u);
    EXPECT_TRUE(r.body == content);
}

TEST_F(ClientTest, ConnectionRefusedFailsQuickly) {
    // A bound socket that does not listen: connections to its port are refused, and nobody can take it.
    UniqueFd blocker(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(blocker.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(blocker.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    std::string url = fmt::format("http://127.0.0.1:{}/x.narinfo", ntohs(address.sin_port));

    ClientOptions options = fast_options();
    options.attempts = 3;
    Client client(io_.get_executor(), options);
    auto start = Clock::now();
    HttpError e = run_failing(client.get(url));
    EXPECT_LT(seconds_since(start), 2.0);
    EXPECT_EQ(e.kind(), HttpError::Kind::transport);
    EXPECT_EQ(e.curl_code(), kCurlCouldntConnect);
    EXPECT_EQ(e.attempts(), 3u);
    EXPECT_THAT(e.what(), HasSubstr("cannot download '" + url + "': "));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1"));
}

TEST_F(ClientTest, StalledTransferTimesOut) {
    put("s.nar", std::string(1000, 's'));
    server_.set_fault("/s.nar", {.trickle_bytes = 1, .trickle_interval = 5s});
    ClientOptions options = fast_options();
    options.attempts = 1;
    options.stall_timeout = 1s;
    Client client(io_.get_executor(), options);
    auto start = Clock::now();
    HttpError e = run_failing(client.get(server_.url("/s.nar")));
    double elapsed = seconds_since(start);
    EXPECT_EQ(e.curl_code(), kCurlTimedOut);
    EXPECT_GE(elapsed, 0.9);
    EXPECT_LT(elapsed, 4.0);
}

TEST_F(ClientTest, SlowTrickleWithinStallTimeoutSucceeds) {
    put("s.nar", std::string(40, 's'));
    server_.set_fault("/s.nar", {.trickle_bytes = 10, .trickle_interval = 20ms});
    ClientOptions options = fast_options();
    options.stall_timeout = 1s;
    Client client(io_.get_executor(), options);
    int calls = 0;
    Response r =
        run(client.get(Request(server_.url("/s.nar")).with_sink([&](std::string_view) { ++calls; })));
    EXPECT_EQ(r.bytes, 40u);
    EXPECT_GE(calls, 2);
}

TEST_F(ClientTest, SinkExceptionAbortsTransferAndRises) {
    put("big.nar", random_bytes(10 << 20, 5));
    Client client(io_.get_executor(), fast_options());
    std::size_t received = 0;
    auto sink = [&](std::string_view data) {
        received += data.size();
        if (received > (1 << 20)) throw FormatError("NAR is corrupt");
    };
    try {
        run(client.get(Request(server_.url("/big.nar")).with_sink(sink)));
        ADD_FAILURE() << "the sink's exception did not rise";
    } catch (const FormatError& e) {
        EXPECT_EQ(std::string(e.what()),
                  fmt::format("while downloading '{}': NAR is corrupt", server_.url("/big.nar")));
    }
    EXPECT_LT(received, std::size_t(10 << 20));
    EXPECT_EQ(server_.hits("/big.nar"), 1u);
    EXPECT_EQ(client.counters().retries, 0u);
    EXPECT_EQ(client.counters().active, 0u);
}

TEST_F(ClientTest, ConsumedBodyIsNotRetriedWithoutRestart) {
    put("c.nar", random_bytes(1 << 20, 6));
    server_.set_fault("/c.nar", {.truncate_at = 500000, .times = 1});
    Client client(io_.get_executor(), fast_options());
    std::size_t received = 0;
    HttpError e = run_failing(client.get(
        Request(server_.url("/c.nar")).with_sink([&](std::string_view d) { received += d.size(); })));
    EXPECT_EQ(e.curl_code(), kCurlPartialFile);
    EXPECT_EQ(e.attempts(), 1u);
    EXPECT_THAT(e.what(), HasSubstr("not retried"));
    EXPECT_EQ(received, 500000u);
    EXPECT_EQ(server_.hits("/c.nar"), 1u);
}

TEST_F(ClientTest, ConsumedBodyIsRetriedAfterRestart) {
    std::string content = random_bytes(1 << 20, 7);
    put("c.nar", content);
    server_.set_fault("/c.nar", {.truncate_at = 500000, .times = 1});
    Client client(io_.get_executor(), fast_options());
    std::string received;
    int restarts = 0;
    Response r = run(client.get(Request(server_.url("/c.nar"))
                                    .with_sink([&](std::string_view d) { received.append(d); })
                                    .with_restart([&] {
                                        ++restarts;
                                        received.clear();
                                    })));
    EXPECT_EQ(r.attempts, 2u);
    EXPECT_EQ(restarts, 1);
    EXPECT_TRUE(received == content);
}

TEST_F(ClientTest, ClosedGatePausesTheBodyUntilItOpens) {
    std::string content = random_bytes(4 << 20, 8);
    put("gated.nar", content);
    Client client(io_.get_executor(), fast_options());
    auto gate = std::make_shared<BodyGate>();
    std::string received;
    int closes = 0, while_closed = 0;
    asio::steady_timer opener(io_);
    // The consumer takes 64 KiB, then closes the gate for a moment, as a slow pool thread would.
    auto sink = [&](std::string_view d) {
        if (!gate->is_open()) ++while_closed;
        received.append(d);
        if (received.size() / (64 << 10) > static_cast<std::size_t>(closes)) {
            ++closes;
            gate->close();
            opener.expires_after(2ms);
            opener.async_wait([&](boost::system::error_code) { gate->open(); });
        }
    };
    Response r = run(client.get(Request(server_.url("/gated.nar")).with_sink(sink).with_gate(gate)));
    EXPECT_EQ(r.status, 200);
    EXPECT_GT(closes, 10);
    EXPECT_EQ(while_closed, 0);
    EXPECT_TRUE(received == content);
}

TEST_F(ClientTest, GateOpenedFromAnotherThreadResumesTheTransfer) {
    std::string content = random_bytes(2 << 20, 9);
    put("gated2.nar", content);
    Client client(io_.get_executor(), fast_options());
    auto gate = std::make_shared<BodyGate>();
    std::string received;
    std::vector<std::thread> openers;
    auto sink = [&](std::string_view d) {
        received.append(d);
        gate->close();
        openers.emplace_back([&gate] {
            std::this_thread::sleep_for(1ms);
            gate->open();
        });
    };
    Response r = run(client.get(Request(server_.url("/gated2.nar")).with_sink(sink).with_gate(gate)));
    for (auto& t : openers)
        t.join();
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(received == content);
}

TEST_F(ClientTest, CancellingARunningTransferStopsIt) {
    put("slow.nar", "late");
    server_.set_fault("/slow.nar", {.delay = 10s});
    Client client(io_.get_executor(), fast_options());
    asio::cancellation_signal signal;
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(io_, client.get(server_.url("/slow.nar")),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Response) {
                       error = e;
                       done = true;
                   }));
    asio::steady_timer timer(io_, 100ms);
    timer.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
    auto start = Clock::now();
    ASSERT_TRUE(run_until(
        io_, [&] { return done; }, 5s));
    EXPECT_LT(seconds_since(start), 2.0);
    ASSERT_TRUE(error);
    try {
        std::rethrow_exception(error);
    } catch (const HttpError& e) {
        EXPECT_EQ(e.kind(), HttpError::Kind::cancelled);
        EXPECT_EQ(std::string(e.what()),
                  fmt::format("cannot download '{}': cancelled (1 attempt)", server_.url("/slow.nar")));
    }
    EXPECT_EQ(client.counters().active, 0u);
    EXPECT_EQ(server_.hits("/slow.nar"), 1u);
}

TEST_F(ClientTest, CancellingAQueuedTransferSendsNothing) {
    put("a", "a");
    put("b", "b");
    server_.set_fault("/a", {.delay = 300ms});
    ClientOptions options = fast_options();
    options.max_connections = 1;
    Client client(io_.get_executor(), options);
    long a_status = 0;
    bool a_done = false;
    asio::co_spawn(io_, client.get(server_.url("/a")), [&](std::exception_ptr e, Response r) {
        a_done = true;
        a_status = e ? -1 : r.status;
    });
    // `||` cancels the loser: the request for /b waits behind /a, and the timer wins.
    auto race = [&]() -> asio::awaitable<std::size_t> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(io_, 50ms);
        auto raced = co_await (client.get(server_.url("/b")) || timer.async_wait(asio::use_awaitable));
        co_return raced.index();
    };
    EXPECT_EQ(run(race()), 1u);
    EXPECT_FALSE(a_done);
    EXPECT_EQ(client.counters().queued, 0u);
    EXPECT_EQ(client.counters().active, 1u);
    ASSERT_TRUE(run_until(
        io_, [&] { return a_done; }, 5s));
    EXPECT_EQ(a_status, 200);
    EXPECT_EQ(server_.hits("/b"), 0u);
    EXPECT_EQ(client.counters().requests_started, 1u);
}

TEST_F(ClientTest, ShutdownFailsTransfersInFlight) {
    put("slow", "x");
    server_.set_fault("/slow", {.delay = 10s});
    auto client = std::make_unique<Client>(io_.get_executor(), fast_options());
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(io_, client->get(server_.url("/slow")), [&](std::exception_ptr e, Response) {
        error = e;
        done = true;
    });
    asio::steady_timer timer(io_, 50ms);
    timer.async_wait([&](boost::system::error_code) { client.reset(); });
    ASSERT_TRUE(run_until(
        io_, [&] { return done; }, 5s));
    ASSERT_TRUE(error);
    try {
        std::rethrow_exception(error);
    } catch (const HttpError& e) {
        EXPECT_EQ(e.kind(), HttpError::Kind::shut_down);
    }
}

TEST_F(ClientTest, RequestsAfterShutdownFail) {
    Client client(io_.get_executor(), fast_options());
    client.shutdown();
    HttpError e = run_failing(client.get(server_.url("/x")));
    EXPECT_EQ(e.kind(), HttpError::Kind::shut_down);
    EXPECT_EQ(server_.requests(), 0u);
}

TEST_F(ClientTest, FileUrls) {
    put("local/f.narinfo", "file body");
    Client client(io_.get_executor(), fast_options());
    std::string base = "file://" + dir_.path().string();
    Response found = run(client.get(base + "/local/f.narinfo"));
    EXPECT_EQ(found.status, 200);
    EXPECT_EQ(found.body, "file body");
    std::string sunk;
    Response streamed =
        run(client.get(Request(base + "/local/f.narinfo").with_sink([&](std::string_view d) { sunk += d; })));
    EXPECT_EQ(streamed.status, 200);
    EXPECT_EQ(sunk, "file body");
    Response missing = run(client.get(base + "/local/none.narinfo"));
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.attempts, 1u);
}

TEST_F(ClientTest, UnsupportedSchemeIsAnError) {
    Client client(io_.get_executor(), fast_options());
    HttpError e = run_failing(client.get("gopher://127.0.0.1/x"));
    EXPECT_EQ(e.kind(), HttpError::Kind::transport);
    EXPECT_EQ(e.attempts(), 1u);
}

/// Fetches `count` files, `connections` at a time, from a server that waits 50 ms before each answer.
void check_concurrency(HttpServer& server, TempDir& dir, asio::io_context& io, unsigned count,
                       unsigned connections) {
    for (unsigned i = 0; i < count; ++i)
        write_file_atomic(dir.path() / fmt::format("{}.narinfo", i), fmt::format("narinfo {}\n", i));
    server.set_default_fault({.delay = 50ms});
    ClientOptions options;
    options.max_connections = connections;
    Client client(io.get_executor(), options);
    unsigned ok = 0, finished = 0;
    auto start = Clock::now();
    for (unsigned i = 0; i < count; ++i) {
        asio::co_spawn(io, client.get(server.url(fmt::format("/{}.narinfo", i))),
                       [&, i](std::exception_ptr e, Response r) {
                           ++finished;
                           if (!e && r.status == 200 && r.body == fmt::format("narinfo {}\n", i)) ++ok;
                       });
    }
    ASSERT_TRUE(run_until(
        io, [&] { return finished == count; }, 20s));
    double elapsed = seconds_since(start);
    unsigned rounds = (count + connections - 1) / connections;
    fmt::print("{} requests, {} connections, 50 ms each: {:.3f} s (floor {} × 50 ms = {:.3f} s), server "
               "peak {}, {} connections accepted\n",
               count, connections, elapsed, rounds, rounds * 0.05, server.peak_in_flight(),
               server.connections());
    EXPECT_EQ(ok, count);
    EXPECT_EQ(server.peak_in_flight(), static_cast<int>(connections));
    EXPECT_EQ(client.counters().peak_active, connections);
    EXPECT_EQ(client.counters().requests_started, count);
    EXPECT_EQ(client.counters().retries, 0u);
    EXPECT_EQ(server.requests(), count);
}

TEST_F(ClientTest, ThousandRequestsRunAtMostMaxConnectionsAtOnce) {
    check_concurrency(server_, dir_, io_, 1000, 150);
}

TEST_F(ClientTest, TenConnections) {
    check_concurrency(server_, dir_, io_, 100, 10);
}

} // namespace
} // namespace ferry::http
