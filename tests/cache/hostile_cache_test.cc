// A binary cache that lies or attacks: narinfos for another path, garbage references, NAR URLs that
// point outside the cache, a narinfo of 100 MB or without end, a NAR longer than its FileSize and
// NarSize. Each is a clear error (or, for another path, no offer), costs bounded memory, and leaves
// nothing valid and nothing in the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/cache/binary_cache.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const StoreDir kStoreDir;
const StorePath kHello = kStoreDir.parse("/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text");
const StorePath kDiamond = kStoreDir.parse("/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top");

/// An HTTP server on 127.0.0.1 whose answers never end: for any path but /nix-cache-info it sends
/// `prefix`, then `filler` over and over, with no Content-Length, until the client closes the
/// connection or `cap` bytes went out. Counts what it sent. One thread per connection; the destructor
/// stops and joins them all.
class EndlessServer {
public:
    EndlessServer(std::string prefix, std::string filler, uint64_t cap)
        : prefix_(std::move(prefix)), filler_(std::move(filler)), cap_(cap) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(listen_fd_, 16) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw SysError("cannot listen on 127.0.0.1");
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~EndlessServer() {
        stop_ = true;
        acceptor_.join();
        for (auto& t : connections_)
            t.join();
        ::close(listen_fd_);
    }
    std::string url(const std::string& path = "") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    /// Bytes sent for `path` so far (all requests of it together).
    uint64_t sent(const std::string& path) const {
        std::lock_guard lock(mutex_);
        auto it = sent_.find(path);
        return it == sent_.end() ? 0 : it->second;
    }

private:
    void accept_loop() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) connections_.emplace_back([this, fd] { serve(fd); });
        }
    }
    void serve(int fd) {
        std::string request;
        char buf[4096];
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536 && !stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            request.append(buf, size_t(n));
        }
        size_t start = request.find(' ') + 1;
        std::string path = request.substr(start, request.find(' ', start) - start);
        if (path == "/nix-cache-info") {
            send_all(
                fd,
                "HTTP/1.1 200 OK\r\nContent-Length: 22\r\nConnection: close\r\n\r\nStoreDir: /nix/store\n\n",
                path);
        } else if (send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + prefix_, path)) {
            while (!stop_ && sent(path) < cap_ && std::chrono::steady_clock::now() < deadline)
                if (!send_all(fd, filler_, path)) break;
        }
        ::close(fd);
    }
    /// Sends `data` (polling so that stop_ is seen); false once the client is gone.
    bool send_all(int fd, std::string_view data, const std::string& path) {
        while (!data.empty() && !stop_) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(size_t(n));
            std::lock_guard lock(mutex_);
            sent_[path] += uint64_t(n);
        }
        return data.empty();
    }

    std::string prefix_, filler_;
    uint64_t cap_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread acceptor_;
    std::vector<std::thread> connections_; // touched by the acceptor only, then joined
    mutable std::mutex mutex_;
    std::map<std::string, uint64_t> sent_;
};

class HostileCacheTest : public testing::Test {
protected:
    HostileCacheTest() { copy_fixture_cache("cache-none", dir); }

    fs::path hello_narinfo() const { return narinfo_file(dir, kHello); }
    std::string cache_url() const {
        std::string url = server.url("/");
        url.pop_back();
        return url;
    }
    /// Fetching hello-text fails with `reason` after the standard prefix, on one line, and leaves
    /// nothing valid and nothing in the store.
    void expect_fetch_fails(const std::string& reason) {
        auto cache = open_cache();
        std::string error = env.fetch_error(*cache, kHello);
        EXPECT_THAT(error, HasSubstr(reason));
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
        expect_store_untouched();
    }
    /// The cache, with an empty narinfo disk cache (which would remember the narinfo the test edits).
    std::unique_ptr<BinaryCache> open_cache() {
        fs::remove_all(env.tmp.path() / "xdg-cache");
        return env.open(server.url("/"));
    }
    void expect_store_untouched() {
        EXPECT_TRUE(env.store.staging_leftovers().empty());
        EXPECT_TRUE(env.store.store_entries().empty());
        EXPECT_TRUE(env.store->query_valid_paths({kHello, kDiamond}).empty());
    }

    CacheEnv env;
    fs::path dir = env.tmp.path() / "cache";
    HttpServer server{dir};
};

} // namespace

// --- The narinfo ------------------------------------------------------------------------------------

TEST_F(HostileCacheTest, ANarinfoForAnotherPathIsNoOffer) {
    // As Nix's queryPathInfo (goodStorePath): the cache does not have the path asked for, whatever the
    // narinfo's signatures say about the other one.
    for (const StorePath& other : {kDiamond, StorePath(std::string(kHello.hash_part()) + "-evil")}) {
        SCOPED_TRACE(other.to_string());
        edit_narinfo(hello_narinfo(), [&](NarInfo& i) {
            i.path = other;
            i.signatures = {env.test_key.sign(i.fingerprint(kStoreDir))};
        });
        auto cache = open_cache();
        EXPECT_EQ(env.run(cache->query(kHello)), nullptr);
        EXPECT_THAT(env.fetch_error(*cache, kHello), HasSubstr("is not in the cache"));
        EXPECT_THROW(env.realise(*cache, {kHello}), Error);
        expect_store_untouched();
        fs::remove_all(dir);
        copy_fixture_cache("cache-none", dir);
    }
}

TEST_F(HostileCacheTest, GarbageReferencesAreAMalformedNarinfo) {
    std::string text = read_file(hello_narinfo());
    for (std::string refs : std::vector<std::string>{
             "../../../etc/passwd", "/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text",
             "m3bcim6awl6bk3f8ifcpxbhb2lwgbll3", "m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-a/b",
             std::string("m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-a\x01")}) {
        SCOPED_TRACE(refs);
        fs::remove(hello_narinfo());
        std::string bad = text;
        bad.replace(bad.find("References:"),
                    bad.find('\n', bad.find("References:")) - bad.find("References:"), "References: " + refs);
        write_file_atomic(hello_narinfo(), bad);
        expect_fetch_fails("malformed narinfo '" + cache_url() +
                           "/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3.narinfo': "
                           "field 'References'");
    }
}

// --- Where the NAR comes from -------------------------------------------------------------------------

TEST_F(HostileCacheTest, NarUrlsOutsideTheCacheAreRefusedBeforeAnyRequest) {
    // The URL is not covered by the signature: a cache (or whoever controls its files) may write any.
    std::string real_nar = (dir / read_narinfo(hello_narinfo()).url).string();
    for (const std::string& url :
         std::vector<std::string>{"../x", "nar/../../x", "%2e%2e/x", "/etc/passwd", "file:///etc/passwd",
                                  "file://" + real_nar, "ftp://127.0.0.1/x"}) {
        SCOPED_TRACE(url);
        edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.url = url; });
        server.reset_stats();
        expect_fetch_fails("cannot substitute '" + kStoreDir.print(kHello) + "' from '" + cache_url() +
                           "': NAR URL '" + url + "' points outside the binary cache");
        for (const auto& r : server.request_log())
            EXPECT_TRUE(r.path.ends_with(".narinfo") || r.path == "/nix-cache-info") << r.path;
    }
}

TEST_F(HostileCacheTest, AnAbsoluteHttpUrlIsFollowedAsNixDoesAndItsNarVerified) {
    TempDir elsewhere;
    std::string nar_file = (dir / read_narinfo(hello_narinfo()).url).string();
    std::string other_nar = (dir / read_narinfo(narinfo_file(dir, kDiamond)).url).string();
    fs::copy_file(nar_file, elsewhere.path() / "hello.nar");
    fs::copy_file(other_nar, elsewhere.path() / "wrong.nar");
    HttpServer other(elsewhere.path());

    // Another host serving a different NAR: refused by the sizes and hashes the signature covers.
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.url = other.url("/wrong.nar"); });
    expect_fetch_fails("mismatch");
    EXPECT_EQ(other.hits("/wrong.nar"), 1u);

    // Another host serving the right NAR: the path is valid, as with Nix.
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.url = other.url("/hello.nar"); });
    auto cache = open_cache();
    EXPECT_EQ(env.fetch_error(*cache, kHello), "");
    EXPECT_TRUE(env.store->is_valid_path(kHello));
    EXPECT_EQ(other.hits("/hello.nar"), 1u);
}

// --- Bodies without end ------------------------------------------------------------------------------

TEST_F(HostileCacheTest, ANarinfoOf100MBIsRefusedAfterItsLimit) {
    std::string refs = "StorePath: " + kStoreDir.print(kHello) + "\nReferences:";
    EndlessServer endless(refs, " " + kHello.to_string(), 100 << 20);
    auto cache = env.open(endless.url("/"));
    try {
        env.run(cache->query_narinfo(kHello));
        ADD_FAILURE() << "the query succeeded";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("the answer is larger than the limit of 16777216 bytes"));
        EXPECT_THAT(e.what(), HasSubstr(endless.url("/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3.narinfo")));
    }
    // Stopped at the limit, not at the end of the 100 MB (the rest is the sockets' buffers).
    uint64_t sent = endless.sent("/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3.narinfo");
    std::printf("narinfo without end: %llu bytes sent before ferry closed the connection\n",
                static_cast<unsigned long long>(sent));
    EXPECT_LT(sent, uint64_t(48) << 20);
    expect_store_untouched();
}

TEST_F(HostileCacheTest, ANarLongerThanItsFileSizeOrNarSizeIsCutOff) {
    std::string nar = read_file(dir / read_narinfo(hello_narinfo()).url);
    EndlessServer endless(nar, std::string(1 << 16, 'x'), uint64_t(1) << 30);
    for (bool with_file_size : {true, false}) {
        SCOPED_TRACE(with_file_size ? "with FileSize" : "without FileSize");
        edit_narinfo(hello_narinfo(), [&](NarInfo& i) {
            i.url = endless.url(with_file_size ? "/a.nar" : "/b.nar");
            if (!with_file_size) {
                i.file_size = 0;
                i.file_hash.reset();
            }
        });
        expect_fetch_fails(with_file_size ? "file size mismatch for '" + endless.url("/a.nar") +
                                                "': expected 120 bytes, got more"
                                          : "NAR size mismatch: expected 120 bytes, got more");
        uint64_t sent = endless.sent(with_file_size ? "/a.nar" : "/b.nar");
        std::printf("NAR without end (%s): %llu bytes sent before ferry closed the connection\n",
                    with_file_size ? "FileSize" : "NarSize", static_cast<unsigned long long>(sent));
        EXPECT_LT(sent, uint64_t(64) << 20);
    }
}
