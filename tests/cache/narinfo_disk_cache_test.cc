// The narinfo disk cache: on its own (real SQLite files, a test clock), and under a BinaryCache served
// over HTTP, where a fresh answer must cost no request.
#include "ferry/cache/narinfo_disk_cache.hh"

#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Kind = CachedNarinfo::Kind;

const std::string kUrl = "http://cache.example";

struct DiskCacheTest : testing::Test {
    NarinfoDiskCacheOptions options() {
        NarinfoDiskCacheOptions o;
        o.positive_ttl = 100s;
        o.negative_ttl = 10s;
        o.meta_ttl = 50s;
        o.clock = [this] { return now; };
        return o;
    }
    std::unique_ptr<NarinfoDiskCache> open() { return std::make_unique<NarinfoDiskCache>(file, options()); }

    TempDir tmp;
    fs::path file = tmp.path() / "sub" / "narinfo-cache.sqlite";
    int64_t now = 1'700'000'000;
};

TEST_F(DiskCacheTest, AnswersSurviveReopening) {
    {
        auto cache = open();
        cache->store_present(kUrl, "aaaa", "StorePath: x\n");
        cache->store_absent(kUrl, "bbbb");
        cache->store_meta(kUrl,
                          CacheInfo{.store_dir = "/nix/store", .want_mass_query = true, .priority = 30});
        // Buffered entries are answered before they are written.
        EXPECT_EQ(cache->pending(), 3u);
        EXPECT_EQ(cache->lookup(kUrl, "aaaa").kind, Kind::present);
        cache->flush();
        EXPECT_EQ(cache->pending(), 0u);
    }
    auto cache = open();
    auto present = cache->lookup(kUrl, "aaaa");
    EXPECT_EQ(present.kind, Kind::present);
    EXPECT_EQ(present.text, "StorePath: x\n");
    EXPECT_EQ(cache->lookup(kUrl, "bbbb").kind, Kind::absent);
    EXPECT_EQ(cache->lookup(kUrl, "cccc").kind, Kind::unknown);
    EXPECT_EQ(cache->lookup("http://other.example", "aaaa").kind, Kind::unknown);
    auto meta = cache->lookup_meta(kUrl);
    ASSERT_TRUE(meta);
    EXPECT_EQ(meta->priority, 30);
    EXPECT_TRUE(meta->want_mass_query);
    EXPECT_FALSE(cache->lookup_meta("http://other.example"));
}

TEST_F(DiskCacheTest, DestructorFlushes) {
    open()->store_present(kUrl, "aaaa", "x");
    EXPECT_EQ(open()->lookup(kUrl, "aaaa").kind, Kind::present);
}

TEST_F(DiskCacheTest, EntriesExpireAfterTheirTtl) {
    {
        auto cache = open();
        cache->store_present(kUrl, "pos", "x");
        cache->store_absent(kUrl, "neg");
        cache->store_meta(kUrl, CacheInfo{});
    }
    auto cache = open();
    now += 9;
    EXPECT_EQ(cache->lookup(kUrl, "neg").kind, Kind::absent);
    now += 1; // 10 s: the negative TTL has passed
    EXPECT_EQ(cache->lookup(kUrl, "neg").kind, Kind::unknown);
    EXPECT_EQ(cache->lookup(kUrl, "pos").kind, Kind::present);
    now += 39;
    EXPECT_TRUE(cache->lookup_meta(kUrl));
    now += 1; // 50 s: the meta TTL has passed
    EXPECT_FALSE(cache->lookup_meta(kUrl));
    now += 49;
    EXPECT_EQ(cache->lookup(kUrl, "pos").kind, Kind::present);
    now += 1; // 100 s
    EXPECT_EQ(cache->lookup(kUrl, "pos").kind, Kind::unknown);
}

TEST_F(DiskCacheTest, NewerAnswerReplacesOlder) {
    auto cache = open();
    cache->store_absent(kUrl, "aaaa");
    cache->flush();
    cache->store_present(kUrl, "aaaa", "now it is there");
    cache->flush();
    EXPECT_EQ(open()->lookup(kUrl, "aaaa").text, "now it is there");
}

TEST_F(DiskCacheTest, WantsFlushOncePerBatch) {
    auto cache = open();
    for (size_t i = 0; i + 1 < NarinfoDiskCache::kFlushBatch; ++i)
        cache->store_absent(kUrl, std::to_string(i));
    EXPECT_FALSE(cache->wants_flush());
    cache->store_absent(kUrl, "last");
    EXPECT_TRUE(cache->wants_flush());
    EXPECT_FALSE(cache->wants_flush()); // claimed: the flush is on its way
    cache->flush();
    for (size_t i = 0; i < NarinfoDiskCache::kFlushBatch; ++i)
        cache->store_absent(kUrl, "x" + std::to_string(i));
    EXPECT_TRUE(cache->wants_flush());
}

TEST_F(DiskCacheTest, TwoProcessesWriteConcurrently) {
    // Two connections pairs on one file, as two ferry processes have, each flushing batches while the
    // other does: the busy timeout serialises them, nothing is lost.
    auto a = open();
    auto b = open();
    auto writer = [](NarinfoDiskCache& cache, const std::string& prefix) {
        for (int batch = 0; batch < 20; ++batch) {
            for (int i = 0; i < 100; ++i)
                cache.store_present(kUrl, prefix + std::to_string(batch * 100 + i), "x");
            cache.flush();
        }
    };
    std::thread ta(writer, std::ref(*a), "a");
    std::thread tb(writer, std::ref(*b), "b");
    for (int i = 0; i < 200; ++i)
        (void)a->lookup(kUrl, "b" + std::to_string(i)); // reads meanwhile
    ta.join();
    tb.join();
    auto c = open();
    for (int i = 0; i < 2000; i += 37) {
        EXPECT_EQ(c->lookup(kUrl, "a" + std::to_string(i)).kind, Kind::present) << i;
        EXPECT_EQ(c->lookup(kUrl, "b" + std::to_string(i)).kind, Kind::present) << i;
    }
}

TEST_F(DiskCacheTest, ExpiredEntriesArePurged) {
    {
        auto cache = open();
        cache->store_absent(kUrl, "old");
    }
    now += 2 * 24 * 3600;
    {
        auto cache = open();
        cache->store_absent(kUrl, "new"); // this flush purges
    }
    Database db(file);
    auto count = db.prepare("select count(*) from NARs");
    auto q = count.use();
    ASSERT_TRUE(q.next());
    EXPECT_EQ(q.get_int(0), 1);
}

// --- Under a BinaryCache ------------------------------------------------------------------------------

class CachedQueryTest : public testing::Test {
protected:
    CachedQueryTest() { write_synthetic_cache(dir, {{present, {}, "here"}}, env.test_key, "none"); }

    /// A BinaryCache over a new client and a new disk cache connection (as a second process would have),
    /// with the test's clock and TTLs.
    std::unique_ptr<BinaryCache> open() {
        auto context = env.context();
        NarinfoDiskCacheOptions o = narinfo_disk_cache_options(env.settings);
        o.clock = [this] { return now; };
        context->disk_cache = std::make_shared<NarinfoDiskCache>(NarinfoDiskCache::default_file(), o);
        auto cache = std::make_unique<BinaryCache>(server.url("/"), context);
        env.run(cache->init());
        return cache;
    }
    /// Queries `path` through a new BinaryCache; its disk cache is flushed when it is destroyed, at the
    /// end, as at the end of a command.
    std::shared_ptr<const NarInfo> query(const StorePath& path) {
        return env.run(open()->query_narinfo(path));
    }
    uint64_t narinfo_hits(const StorePath& path) const {
        return server.hits("/" + std::string(path.hash_part()) + ".narinfo");
    }

    CacheEnv env;
    fs::path dir = env.tmp.path() / "cache";
    HttpServer server{dir};
    StorePath present = synthetic_store_path("present");
    StorePath absent = synthetic_store_path("absent");
    int64_t now = 1'700'000'000;
};

TEST_F(CachedQueryTest, SecondQueryWithinTtlMakesNoRequest) {
    ASSERT_TRUE(query(present));
    EXPECT_EQ(server.hits("/nix-cache-info"), 1u);
    EXPECT_EQ(server.requests(), 2u);
    auto again = query(present);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->path, present);
    EXPECT_EQ(server.requests(), 2u); // neither the narinfo nor nix-cache-info again
}

TEST_F(CachedQueryTest, NegativeAnswersAreCachedAndExpire) {
    env.settings.narinfo_cache_negative_ttl = 60;
    EXPECT_FALSE(query(absent));
    EXPECT_EQ(narinfo_hits(absent), 1u);
    now += 59;
    EXPECT_FALSE(query(absent));
    EXPECT_EQ(narinfo_hits(absent), 1u);
    now += 1; // the negative TTL has passed: the cache is asked again
    EXPECT_FALSE(query(absent));
    EXPECT_EQ(narinfo_hits(absent), 2u);
}

TEST_F(CachedQueryTest, PositiveAnswersExpire) {
    env.settings.narinfo_cache_positive_ttl = 600;
    ASSERT_TRUE(query(present));
    now += 599;
    ASSERT_TRUE(query(present));
    EXPECT_EQ(narinfo_hits(present), 1u);
    now += 1;
    ASSERT_TRUE(query(present));
    EXPECT_EQ(narinfo_hits(present), 2u);
}

TEST_F(CachedQueryTest, MetaIsAskedAgainAfterItsTtl) {
    env.settings.narinfo_cache_meta_ttl = 100;
    ASSERT_TRUE(query(present));
    now += 99;
    ASSERT_TRUE(query(present));
    EXPECT_EQ(server.hits("/nix-cache-info"), 1u);
    now += 1;
    ASSERT_TRUE(query(present));
    EXPECT_EQ(server.hits("/nix-cache-info"), 2u);
    EXPECT_EQ(narinfo_hits(present), 1u); // the narinfo is still fresh
}

TEST_F(CachedQueryTest, PriorityComesFromTheDiskCacheWhenWarm) {
    auto cold = open();
    EXPECT_EQ(cold->priority(), 50); // not known yet: nix-cache-info is in flight
    env.run(cold->wait_ready());
    EXPECT_EQ(cold->priority(), 40);
    cold.reset();
    auto warm = open();
    EXPECT_EQ(warm->priority(), 40); // known at init()
}

TEST_F(CachedQueryTest, FileCachesBypassTheDiskCache) {
    auto cache = env.open("file://" + dir.string());
    ASSERT_TRUE(env.run(cache->query_narinfo(present)));
    fs::remove(narinfo_file(dir, present));
    EXPECT_FALSE(env.run(cache->query_narinfo(present)));
}

} // namespace
