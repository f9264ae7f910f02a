// Several binary caches, as `ferry` processes see them: when one cache's copy of a path cannot be used
// (corrupt or missing NAR, bad signature) the next cache in priority order that has it is tried, and the
// log says why the first was skipped; a `.drv` that is not valid comes from a cache that has it; a
// reference cycle among narinfos is an error, at once, for realise, copy and a dry run.
#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/store/local_store.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"
#include "support/store_check.hh"

using namespace ferry;
using namespace ferry::test;
using testing::HasSubstr;
using testing::Not;
namespace fs = std::filesystem;

namespace {

const StoreDir kStoreDir;
const std::string kHello = "/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text";
const std::string kHelloDrv = "/nix/store/nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv";
const std::string kDiamond = "/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top";

std::string url_of(const HttpServer& server) {
    std::string u = server.url("/");
    u.pop_back();
    return u;
}

class SubstitutersTest : public testing::Test {
protected:
    SubstitutersTest() {
        ::setenv("XDG_CONFIG_HOME", (env.tmp.path() / "config").c_str(), 1);
        // Two copies of cache-xz; `first` is preferred by its priority whatever the order given.
        copy_fixture_cache("cache-xz", first_dir);
        copy_fixture_cache("cache-xz", second_dir);
        write_file_atomic(first_dir / "nix-cache-info", "StoreDir: /nix/store\nPriority: 10\n");
        write_file_atomic(second_dir / "nix-cache-info", "StoreDir: /nix/store\nPriority: 20\n");
        first = std::make_unique<HttpServer>(first_dir);
        second = std::make_unique<HttpServer>(second_dir);
    }

    /// ferry --store ROOT, trusting the fixtures' key and the test key.
    FerryResult ferry(std::vector<std::string> args) {
        std::vector<std::string> all{"--store", root.string(), "--option", "trusted-public-keys",
                                     fixture_public_key() + " " + env.test_key.public_key().to_string()};
        all.insert(all.end(), args.begin(), args.end());
        return run_ferry(all);
    }
    FerryResult realise_from_both(const std::string& path) {
        return ferry({"realise", "--substituters", url_of(*second) + " " + url_of(*first), path});
    }

    /// The NAR file of `path` in the cache at `dir`.
    fs::path nar_of(const fs::path& dir, const std::string& path) {
        return dir / read_narinfo(narinfo_file(dir, kStoreDir.parse(path))).url;
    }
    static void corrupt(const fs::path& file) {
        std::string data = read_file(file);
        data[data.size() / 2] ^= 0x55;
        fs::remove(file);
        write_file_atomic(file, data);
    }
    void expect_consistent() {
        for (const auto& p : store_problems(StoreConfig{.store_dir = "/nix/store", .root = root}))
            ADD_FAILURE() << p;
    }
    bool is_valid(const std::string& path) {
        LocalStore store(StoreConfig{.store_dir = "/nix/store", .root = root});
        return store.is_valid_path(kStoreDir.parse(path));
    }

    CacheEnv env;
    fs::path root = env.tmp.path() / "root";
    fs::path first_dir = env.tmp.path() / "first", second_dir = env.tmp.path() / "second";
    std::unique_ptr<HttpServer> first, second;
};

} // namespace

TEST_F(SubstitutersTest, CorruptNarInTheFirstCacheIsFetchedFromTheSecond) {
    corrupt(nar_of(first_dir, kHello));
    auto r = realise_from_both(kHello);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, kHello + "\n");
    EXPECT_THAT(r.err,
                HasSubstr("warning: cannot substitute '" + kHello + "' from '" + url_of(*first) + "': "));
    EXPECT_THAT(r.err, HasSubstr("; trying '" + url_of(*second) + "'\n"));
    EXPECT_THAT(r.err, HasSubstr("copied path '" + kHello + "' from '" + url_of(*second) + "'"));
    EXPECT_GE(first->hits("/" + fs::relative(nar_of(first_dir, kHello), first_dir).string()), 1u);
    EXPECT_TRUE(is_valid(kHello));
    expect_consistent();
}

TEST_F(SubstitutersTest, MissingNarInTheFirstCacheIsFetchedFromTheSecond) {
    // diamond-top's closure: the references of the path whose NAR is gone come from the first cache.
    fs::remove(nar_of(first_dir, kDiamond));
    auto r = realise_from_both(kDiamond);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err,
                HasSubstr("warning: cannot substitute '" + kDiamond + "' from '" + url_of(*first) + "'"));
    EXPECT_THAT(r.err, HasSubstr("(HTTP status 404); trying '" + url_of(*second) + "'"));
    EXPECT_THAT(r.err, HasSubstr("copied path '" + kDiamond + "' from '" + url_of(*second) + "'"));
    EXPECT_TRUE(is_valid(kDiamond));
    expect_consistent();
}

TEST_F(SubstitutersTest, BadSignatureInTheFirstCacheIsFetchedFromTheSecond) {
    // Signed by a key nobody trusts.
    auto other = SecretKey::generate("untrusted-1");
    edit_narinfo(narinfo_file(first_dir, kStoreDir.parse(kHello)),
                 [&](NarInfo& info) { info.signatures = {other.sign(info.fingerprint(kStoreDir))}; });
    auto r = realise_from_both(kHello);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("warning: cannot substitute '" + kHello + "' from '" + url_of(*first) +
                                 "': no signature by a trusted key; trying '" + url_of(*second) + "'\n"));
    EXPECT_TRUE(is_valid(kHello));
    // The untrusted NAR was not even downloaded.
    EXPECT_EQ(first->hits("/" + fs::relative(nar_of(first_dir, kHello), first_dir).string()), 0u);
    expect_consistent();
}

TEST_F(SubstitutersTest, WhenEveryCacheFailsTheErrorNamesEachReason) {
    corrupt(nar_of(first_dir, kHello));
    edit_narinfo(narinfo_file(second_dir, kStoreDir.parse(kHello)),
                 [&](NarInfo& info) { info.signatures.clear(); });
    auto r = realise_from_both(kHello);
    EXPECT_EQ(r.status, 1);
    std::string last = r.err.substr(r.err.rfind("error: "));
    EXPECT_THAT(last, HasSubstr("error: cannot substitute '" + kHello + "' from any of 2 substituters: '" +
                                url_of(*first) + "': "));
    EXPECT_THAT(last, HasSubstr("; '" + url_of(*second) + "': no signature by a trusted key\n"));
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    EXPECT_FALSE(is_valid(kHello));
    expect_consistent();
    // With one cache, its own error as before.
    auto one = ferry({"realise", "--substituters", url_of(*second), kHello});
    EXPECT_EQ(one.status, 1);
    EXPECT_THAT(one.err, HasSubstr("error: cannot substitute '" + kHello + "' from '" + url_of(*second) +
                                   "': no signature by a trusted key\n"));
    EXPECT_THAT(one.err, Not(HasSubstr("trying")));
}

TEST_F(SubstitutersTest, DerivationThatIsNotValidIsSubstituted) {
    // A cache of the .drv file alone (cache-xz has outputs only); the output then comes from cache-xz.
    fs::path drvs = env.tmp.path() / "drvs";
    std::string text = read_file(compat_dir() / "drv" / fs::path(kHelloDrv).filename());
    write_synthetic_cache(drvs,
                          {{kStoreDir.parse(kHelloDrv),
                            {kStoreDir.parse("/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static")},
                            text}},
                          env.test_key);
    HttpServer drv_server(drvs);
    auto r = ferry({"realise", "--substituters", url_of(drv_server) + " " + url_of(*first), kHelloDrv});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, kHello + "\n");
    EXPECT_THAT(r.err, HasSubstr("copied path '" + kHelloDrv + "' from '" + url_of(drv_server) + "'"));
    EXPECT_THAT(r.err, Not(HasSubstr("building")));
    EXPECT_TRUE(is_valid(kHelloDrv));
    EXPECT_TRUE(is_valid(kHello));
    EXPECT_EQ(read_file(root / "nix" / "store" / fs::path(kHelloDrv).filename()), text);
    expect_consistent();
}

TEST_F(SubstitutersTest, ReferenceCycleAmongNarinfosIsAnErrorAtOnce) {
    StorePath a = synthetic_store_path("cycle-a"), b = synthetic_store_path("cycle-b");
    fs::path dir = env.tmp.path() / "cycle";
    write_synthetic_cache(dir, {{a, {b}, "a refers to b"}, {b, {a}, "b refers to a"}}, env.test_key);
    HttpServer server(dir);
    std::string url = url_of(server);
    auto timed = [&](std::vector<std::string> args) {
        auto start = std::chrono::steady_clock::now();
        auto r = ferry(std::move(args));
        auto took = std::chrono::steady_clock::now() - start;
        EXPECT_LT(took, std::chrono::seconds(1)) << r.err;
        return r;
    };
    auto expect_cycle = [&](const FerryResult& r, const char* what) {
        EXPECT_EQ(r.status, 1) << what;
        EXPECT_THAT(r.err, testing::StartsWith("error: ")) << what;
        EXPECT_THAT(r.err, HasSubstr("cycle detected in the references of '")) << what;
        EXPECT_THAT(r.err, HasSubstr(kStoreDir.print(a))) << what;
        EXPECT_THAT(r.err, HasSubstr(kStoreDir.print(b))) << what;
    };
    expect_cycle(timed({"realise", "--substituters", url, kStoreDir.print(a)}), "realise");
    expect_cycle(timed({"copy", "--from", url, kStoreDir.print(a), kStoreDir.print(b)}), "copy");
    expect_cycle(timed({"realise", "--dry-run", "--substituters", url, kStoreDir.print(b)}), "dry run");
    EXPECT_FALSE(is_valid(kStoreDir.print(a)));
    EXPECT_FALSE(is_valid(kStoreDir.print(b)));
    expect_consistent();
}

TEST_F(SubstitutersTest, DerivationWhoseSubstituteFailsIsAMissingDerivation) {
    fs::path drvs = env.tmp.path() / "drvs";
    std::string text = read_file(compat_dir() / "drv" / fs::path(kHelloDrv).filename());
    auto infos = write_synthetic_cache(drvs, {{kStoreDir.parse(kHelloDrv), {}, text}}, env.test_key);
    corrupt(drvs / infos.front().url);
    HttpServer drv_server(drvs);
    auto r = ferry({"realise", "--substituters", url_of(drv_server), kHelloDrv});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, testing::StartsWith("error: cannot build missing derivation '" + kHelloDrv +
                                           "': cannot substitute '" + kHelloDrv + "' from '" +
                                           url_of(drv_server) + "': "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(is_valid(kHelloDrv));
    expect_consistent();
}
