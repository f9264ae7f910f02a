// BinaryCache against real binary caches served over HTTP on 127.0.0.1: the Nix 2.8 fixture caches,
// copies of them that the tests tamper with, and synthetic caches.
#include "ferry/cache/binary_cache.hh"

#include <cstring>
#include <thread>

#include <boost/asio/steady_timer.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::StartsWith;
namespace fs = std::filesystem;

namespace {

const StoreDir kStoreDir;

/// The server's URL as a cache normalises it: without the trailing '/'.
std::string cache_url(const HttpServer& server) {
    std::string url = server.url("/");
    url.pop_back();
    return url;
}
/// A fixture path with no references.
const StorePath kHello = kStoreDir.parse("/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text");
/// A fixture path with a closure of several levels.
const StorePath kDiamond = kStoreDir.parse("/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top");

std::vector<StorePath> fixture_paths() {
    std::vector<StorePath> out;
    for (const auto& e : compat_path_infos())
        out.push_back(kStoreDir.parse(e["path"].get<std::string>()));
    return out;
}

/// Every path of path-info.json is valid in `store` with Nix's NAR hash, size, references and deriver,
/// its files dump to Nix's NAR, and its signatures verify with the fixture key.
void expect_fixture_store(LocalStore& store) {
    TrustedKeys keys(fixture_public_key());
    size_t n = 0;
    for (const auto& e : compat_path_infos()) {
        ValidPathInfo expected = to_path_info(kStoreDir, e);
        auto got = store.query_path_info(expected.path);
        ASSERT_TRUE(got) << expected.path.to_string();
        EXPECT_EQ(got->nar_hash, expected.nar_hash) << expected.path.to_string();
        EXPECT_EQ(got->nar_size, expected.nar_size) << expected.path.to_string();
        EXPECT_EQ(got->references, expected.references) << expected.path.to_string();
        EXPECT_EQ(got->deriver, expected.deriver) << expected.path.to_string();
        EXPECT_EQ(got->ca, expected.ca) << expected.path.to_string();
        ASSERT_FALSE(got->signatures.empty());
        std::string fingerprint =
            path_fingerprint(kStoreDir, got->path, got->nar_hash, got->nar_size, got->references);
        EXPECT_TRUE(keys.verify_any(fingerprint, got->signatures)) << expected.path.to_string();
        std::string nar;
        store.dump(got->path, [&](std::string_view s) { nar += s; });
        EXPECT_TRUE(nar == read_file(compat_nar(e))) << expected.path.to_string();
        ++n;
    }
    EXPECT_EQ(n, 15u);
}

class BinaryCacheTest : public testing::Test {
protected:
    /// The store is unchanged: nothing valid, nothing in the store directory, nothing staged.
    void expect_store_untouched() {
        EXPECT_TRUE(env.store.staging_leftovers().empty());
        EXPECT_TRUE(env.store.store_entries().empty());
        EXPECT_TRUE(env.store->query_valid_paths({kHello, kDiamond}).empty());
    }

    CacheEnv env;
};

// --- The fixture caches, every compression ------------------------------------------------------

class FixtureCacheTest : public BinaryCacheTest, public testing::WithParamInterface<const char*> {};

TEST_P(FixtureCacheTest, CopiesEveryPathOverHttp) {
    HttpServer server(compat_dir() / GetParam());
    auto cache = env.open(server.url("/"));
    EXPECT_EQ(cache->priority(), 50); // the fixture's nix-cache-info has no Priority
    env.realise(*cache, fixture_paths());
    expect_fixture_store(*env.store.store);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
    // Each narinfo and each NAR once, and nix-cache-info.
    EXPECT_EQ(server.requests(), 15u * 2 + 1);
}

TEST_P(FixtureCacheTest, CopiesEveryPathFromFileUrl) {
    auto cache = env.open("file://" + (compat_dir() / GetParam()).string());
    env.realise(*cache, fixture_paths());
    expect_fixture_store(*env.store.store);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

INSTANTIATE_TEST_SUITE_P(Compressions, FixtureCacheTest,
                         testing::Values("cache-xz", "cache-zstd", "cache-none"));

TEST_F(BinaryCacheTest, QueryGivesTheNarinfoOrNull) {
    HttpServer server(compat_dir() / "cache-zstd");
    auto cache = env.open(server.url("/"));
    auto info = env.run(cache->query_narinfo(kDiamond));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->path, kDiamond);
    EXPECT_EQ(info->compression, "zstd");
    EXPECT_EQ(info->references.size(), 3u);
    EXPECT_FALSE(env.run(cache->query_narinfo(synthetic_store_path("absent"))));
    // The same hash part with another name is another path.
    EXPECT_FALSE(env.run(cache->query_narinfo(StorePath(std::string(kHello.hash_part()) + "-other-name"))));
}

TEST_F(BinaryCacheTest, ExistingPathIsLeftAlone) {
    HttpServer server(compat_dir() / "cache-xz");
    auto cache = env.open(server.url("/"));
    env.realise(*cache, {kHello});
    auto before = env.store->require_path_info(kHello);
    EXPECT_EQ(env.fetch_error(*cache, kHello), "");
    EXPECT_EQ(env.store->require_path_info(kHello), before);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

TEST_F(BinaryCacheTest, WaitsForAPathLockWithoutBlockingTheLoopAndSkipsAValidPath) {
    // Another process holds hello-text's lock and makes it valid meanwhile: the fetch polls for the lock
    // (the loop keeps running), then finds the path valid and leaves it alone.
    HttpServer server(compat_dir() / "cache-xz");
    auto cache = env.open(server.url("/"));
    auto other = env.store.open_again();
    std::optional<PathLock> held = other->lock_path(kHello);
    ValidPathInfo info = to_path_info(kStoreDir, compat_path_infos()[0]);
    for (const auto& e : compat_path_infos())
        if (e["path"] == kStoreDir.print(kHello)) info = to_path_info(kStoreDir, e);
    info.signatures = {"other-process:1"};
    std::thread holder([&] {
        std::this_thread::sleep_for(300ms);
        StagedPath staged = other->stage(kHello.name());
        restore_nar(read_file(compat_dir() / "nar" / (std::string(kHello.hash_part()) + ".nar")),
                    staged.path());
        other->commit_staged({StagedOutput{&staged, info, true}});
        held.reset();
    });
    int ticks = 0;
    boost::asio::steady_timer ticker(env.io);
    std::function<void()> tick = [&] {
        ticker.expires_after(10ms);
        ticker.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            ++ticks;
            tick();
        });
    };
    tick();
    std::string error = env.fetch_error(*cache, kHello);
    ticker.cancel();
    holder.join();
    EXPECT_EQ(error, "");
    EXPECT_GE(ticks, 10); // the loop ran while the fetch waited for the lock
    EXPECT_EQ(env.store->require_path_info(kHello).signatures, info.signatures); // the other process's
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

// --- Tampered caches -------------------------------------------------------------------------------

class TamperedCacheTest : public BinaryCacheTest {
protected:
    TamperedCacheTest() { copy_fixture_cache("cache-xz", dir); }

    fs::path hello_narinfo() const { return narinfo_file(dir, kHello); }
    fs::path hello_nar() const { return dir / read_narinfo(hello_narinfo()).url; }
    /// Re-signs `info` with the test key only.
    void resign(NarInfo& info) const { info.signatures = {env.test_key.sign(info.fingerprint(kStoreDir))}; }

    /// Fetching hello-text fails with `reason`, after the standard prefix, and leaves nothing behind.
    void expect_fetch_fails(const std::string& reason) {
        auto cache = env.open(server.url("/"));
        std::string error = env.fetch_error(*cache, kHello);
        EXPECT_THAT(error, StartsWith("cannot substitute '" + kStoreDir.print(kHello) + "' from '" +
                                      cache_url(server) + "': "));
        EXPECT_THAT(error, HasSubstr(reason));
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
        expect_store_untouched();
    }

    fs::path dir = env.tmp.path() / "cache";
    HttpServer server{dir};
};

TEST_F(TamperedCacheTest, WrongNarHash) {
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) {
        i.nar_hash = hash_string(HashAlgo::sha256, "something else");
        resign(i);
    });
    expect_fetch_fails("NAR hash mismatch: expected sha256:");
}

TEST_F(TamperedCacheTest, WrongNarSize) {
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) {
        i.nar_size += 8;
        resign(i);
    });
    expect_fetch_fails("NAR size mismatch: expected 128 bytes, got 120");
}

TEST_F(TamperedCacheTest, WrongFileHash) {
    // FileHash is not covered by the signature: the original signatures still verify.
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.file_hash = hash_string(HashAlgo::sha256, "other"); });
    expect_fetch_fails("file hash mismatch for 'nar/");
}

TEST_F(TamperedCacheTest, TruncatedNar) {
    server.set_fault("/nar/*", {.truncate_at = 100});
    expect_fetch_fails("(3 attempts)");
    EXPECT_EQ(server.hits("/" + read_narinfo(hello_narinfo()).url), 3u);
}

TEST_F(TamperedCacheTest, GarbageNar) {
    std::string size = std::to_string(fs::file_size(hello_nar()));
    fs::remove(hello_nar());
    write_file_atomic(hello_nar(), std::string(std::stoul(size), 'x'));
    expect_fetch_fails("xz");
}

TEST_F(TamperedCacheTest, GarbageUncompressedNar) {
    fs::remove_all(dir);
    copy_fixture_cache("cache-none", dir);
    fs::path nar = hello_nar();
    std::string bytes = read_file(nar);
    bytes[0] = 'X'; // the length of the magic string
    fs::remove(nar);
    write_file_atomic(nar, bytes);
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.file_hash = hash_string(HashAlgo::sha256, bytes); });
    expect_fetch_fails("NAR");
}

TEST_F(TamperedCacheTest, SignatureByAnotherKey) {
    auto other = SecretKey::generate("fixture-cache-1"); // same name, other key
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.signatures = {other.sign(i.fingerprint(kStoreDir))}; });
    expect_fetch_fails("no signature by a trusted key");
    EXPECT_EQ(server.hits("/" + read_narinfo(hello_narinfo()).url), 0u); // refused before downloading
}

TEST_F(TamperedCacheTest, NoSignatureIsRefusedWhenRequired) {
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.signatures.clear(); });
    expect_fetch_fails("no signature by a trusted key");
}

TEST_F(TamperedCacheTest, NoSignatureIsAcceptedWhenNotRequired) {
    edit_narinfo(hello_narinfo(), [&](NarInfo& i) { i.signatures.clear(); });
    env.settings.require_sigs = false;
    auto cache = env.open(server.url("/"));
    EXPECT_EQ(env.fetch_error(*cache, kHello), "");
    EXPECT_TRUE(env.store->is_valid_path(kHello));
    EXPECT_TRUE(env.store->require_path_info(kHello).signatures.empty());
}

TEST_F(TamperedCacheTest, MissingNar) {
    fs::remove(hello_nar());
    expect_fetch_fails("is not in the cache (HTTP status 404)");
}

TEST_F(TamperedCacheTest, ServerErrorThenSuccess) {
    server.set_fault("/nar/*", {.status = 500, .times = 1});
    auto cache = env.open(server.url("/"));
    EXPECT_EQ(env.fetch_error(*cache, kHello), "");
    EXPECT_TRUE(env.store->is_valid_path(kHello));
    EXPECT_EQ(server.hits("/" + read_narinfo(hello_narinfo()).url), 2u);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

TEST_F(TamperedCacheTest, PersistentServerError) {
    server.set_fault("/nar/*", {.status = 500});
    expect_fetch_fails("HTTP status 500 (3 attempts)");
}

TEST_F(TamperedCacheTest, ForeignStoreDirIsRefused) {
    write_file_atomic(dir / "nix-cache-info", "StoreDir: /gnu/store\n");
    auto cache = env.open(server.url("/")); // cold: init() does not wait for nix-cache-info
    std::string expected =
        "binary cache '" + cache_url(server) + "' is for store '/gnu/store', not '/nix/store'";
    try {
        env.run(cache->query_narinfo(kHello));
        ADD_FAILURE() << "the query succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), expected);
    }
    // Reported once; later the cache just has nothing.
    EXPECT_FALSE(env.run(cache->query_narinfo(kDiamond)));
    EXPECT_THROW(env.run(cache->wait_ready()), Error);
    // Warm: the disk cache remembers the meta data, and init() refuses at once.
    cache.reset();
    auto again = std::make_unique<BinaryCache>(server.url("/"), env.context());
    try {
        env.run(again->init());
        ADD_FAILURE() << "init() succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), expected);
    }
    expect_store_untouched();
}

// --- Retries of a body that was partly consumed ----------------------------------------------------

TEST_F(BinaryCacheTest, ResetMidBodyIsRetriedFromAFreshPipeline) {
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = char((i * 7919) >> 5);
    auto path = synthetic_store_path("big");
    fs::path dir = env.tmp.path() / "cache";
    auto infos = write_synthetic_cache(dir, {{path, {}, big}}, env.test_key, "zstd");
    HttpServer server(dir);
    server.set_fault("/nar/*", {.reset = HttpFault::Reset::mid_body, .times = 2});
    auto cache = env.open(server.url("/"));
    EXPECT_EQ(env.fetch_error(*cache, path), "");
    EXPECT_EQ(server.hits("/" + infos[0].url), 3u);
    EXPECT_EQ(env.store->require_path_info(path).nar_hash, infos[0].nar_hash);
    EXPECT_TRUE(read_file(env.store->real_path(path)) == big);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

TEST_F(BinaryCacheTest, SlowConsumerPausesTheDownloadAndGetsEveryByte) {
    // Several NARs larger than the pipeline's buffer, compressed so that unpacking is slower than
    // loopback HTTP: the gate closes and opens many times, yet every byte arrives once, in order.
    fs::path dir = env.tmp.path() / "cache";
    std::vector<SyntheticPath> paths;
    for (int i = 0; i < 3; ++i) {
        std::string data(4 << 20, '\0');
        uint64_t x = 88172645463325252ull + i;
        for (size_t k = 0; k < data.size(); k += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            std::memcpy(data.data() + k, &x, 8);
        }
        paths.push_back({synthetic_store_path("large-" + std::to_string(i)), {}, std::move(data)});
    }
    write_synthetic_cache(dir, paths, env.test_key, "zstd");
    HttpServer server(dir);
    auto cache = env.open(server.url("/"));
    std::vector<StorePath> wanted;
    for (const auto& p : paths)
        wanted.push_back(p.path);
    env.realise(*cache, wanted);
    for (const auto& p : paths)
        EXPECT_TRUE(read_file(env.store->real_path(p.path)) == p.contents);
    EXPECT_TRUE(env.store.staging_leftovers().empty());
}

} // namespace
