// The command line's binary cache commands, run as separate `ferry` processes: copy --from, path-info
// from a cache, realise/build with substituters from options and from ferry.conf.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/store/local_store.hh"
#include "support/events_check.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const StoreDir kStoreDir;
const std::string kDiamond = "/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top";

std::vector<std::string> fixture_path_names() {
    std::vector<std::string> out;
    for (const auto& e : compat_path_infos())
        out.push_back(e["path"]);
    return out;
}

class CliCacheTest : public testing::Test {
protected:
    CliCacheTest() {
        // No ferry.conf of the user's: an empty configuration directory.
        ::setenv("XDG_CONFIG_HOME", (env.tmp.path() / "config").c_str(), 1);
    }

    /// ferry --store ROOT --option trusted-public-keys KEY <args>
    FerryResult ferry(std::vector<std::string> args) {
        std::vector<std::string> all{"--store", root.string(), "--option", "trusted-public-keys",
                                     fixture_public_key()};
        all.insert(all.end(), args.begin(), args.end());
        return run_ferry(all);
    }
    std::string url() const {
        std::string u = server.url("/");
        u.pop_back();
        return u;
    }

    CacheEnv env;
    fs::path root = env.tmp.path() / "root";
    HttpServer server{compat_dir() / "cache-xz"};
};

TEST_F(CliCacheTest, CopyFromCopiesEveryClosure) {
    std::vector<std::string> args{"copy", "--from", url()};
    for (const auto& p : fixture_path_names())
        args.push_back(p);
    auto r = ferry(args);
    ASSERT_EQ(r.status, 0) << r.err;
    LocalStore store(StoreConfig{.store_dir = "/nix/store", .root = root});
    for (const auto& e : compat_path_infos()) {
        ValidPathInfo expected = to_path_info(kStoreDir, e);
        auto got = store.query_path_info(expected.path);
        ASSERT_TRUE(got) << expected.path.to_string();
        EXPECT_EQ(got->nar_hash, expected.nar_hash);
        EXPECT_EQ(got->nar_size, expected.nar_size);
        EXPECT_EQ(got->references, expected.references);
    }
    for (const auto& e : fs::directory_iterator(StoreConfig{.root = root}.staging_dir()))
        EXPECT_TRUE(is_staging_lock(e.path().filename().string())) << e.path() << "left in staging";
    // Copying again does nothing (and asks the cache nothing but what the disk cache lacks).
    auto again = ferry({"copy", "--from", url(), kDiamond});
    EXPECT_EQ(again.status, 0) << again.err;
}

TEST_F(CliCacheTest, PathInfoFromCacheMatchesNix) {
    auto r = ferry({"path-info", "--from", url(), "-r", "--json", kDiamond});
    ASSERT_EQ(r.status, 0) << r.err;
    std::map<std::string, nlohmann::json> expected;
    for (const auto& e : compat_path_infos())
        expected[e["path"]] = e;
    auto got = nlohmann::json::parse(r.out);
    ASSERT_EQ(got.size(), 8u); // diamond-top's closure
    for (const auto& g : got) {
        const auto& e = expected.at(g["path"]);
        EXPECT_EQ(g["narHash"], e["narHash"]);
        EXPECT_EQ(g["narSize"], e["narSize"]);
        EXPECT_EQ(g["references"], e["references"]);
        EXPECT_EQ(g["deriver"], e["deriver"]);
        EXPECT_TRUE(g["url"].get<std::string>().starts_with("nar/"));
        EXPECT_TRUE(g.contains("downloadHash"));
    }
    // --store URL after the subcommand means the same; the local store is not touched.
    auto plain = ferry({"path-info", "--store", url(), kDiamond});
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(plain.out, kDiamond + "\n");
    EXPECT_FALSE(fs::exists(root));
}

TEST_F(CliCacheTest, PathInfoOfAMissingPathFails) {
    auto r = ferry({"path-info", "--from", url(), kStoreDir.print(synthetic_store_path("nowhere"))});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("is not in binary cache '" + url() + "'"));
}

TEST_F(CliCacheTest, CopyFromAForeignStoreFailsClearly) {
    fs::path dir = env.tmp.path() / "gnu";
    copy_fixture_cache("cache-xz", dir);
    write_file_atomic(dir / "nix-cache-info", "StoreDir: /gnu/store\n");
    HttpServer gnu(dir);
    std::string gnu_url = gnu.url("/");
    gnu_url.pop_back();
    auto r = ferry({"copy", "--from", gnu_url, kDiamond});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("error: binary cache '" + gnu_url +
                                 "' is for store '/gnu/store', not '/nix/store'"));
}

TEST_F(CliCacheTest, UntrustedCacheIsRefusedUnlessSignaturesAreOptional) {
    auto r = run_ferry({"--store", root.string(), "copy", "--from", url(), kDiamond});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("no signature by a trusted key"));
    auto relaxed = run_ferry(
        {"--store", root.string(), "--option", "require-sigs", "false", "copy", "--from", url(), kDiamond});
    EXPECT_EQ(relaxed.status, 0) << relaxed.err;
}

TEST_F(CliCacheTest, RealiseSubstitutesFromTheConfiguredCaches) {
    auto r = ferry({"realise", "--substituters", url(), kDiamond});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, kDiamond + "\n");
    LocalStore store(StoreConfig{.store_dir = "/nix/store", .root = root});
    EXPECT_TRUE(store.is_valid_path(kStoreDir.parse(kDiamond)));
}

TEST_F(CliCacheTest, SettingsComeFromFerryConf) {
    fs::create_directories(env.tmp.path() / "config" / "ferry");
    write_file_atomic(env.tmp.path() / "config" / "ferry" / "ferry.conf",
                      "substituters = " + url() + "\ntrusted-public-keys = " + fixture_public_key() + "\n");
    auto dry = run_ferry({"--store", root.string(), "build", "--dry-run", kDiamond});
    ASSERT_EQ(dry.status, 0) << dry.err;
    EXPECT_THAT(dry.err, HasSubstr("these 8 paths will be fetched"));
    auto r = run_ferry({"--store", root.string(), "realise", kDiamond});
    ASSERT_EQ(r.status, 0) << r.err;
    // --option overrides the file: with no substituter the path is already there, nothing to fetch.
    auto none = run_ferry({"--store", root.string(), "--option", "substituters", "", "realise", kDiamond});
    EXPECT_EQ(none.status, 0) << none.err;
}

// -v shows the queries of the cache (Nix's "querying info about …"), --debug the narinfo disk cache's
// answers; the default shows neither. The substituting realise ends at N/N fetched (internal-json log).
TEST_F(CliCacheTest, VerbosityChoosesTheEventsShownAndARealiseEndsAtNOfN) {
    auto dry = [&](const std::string& store, const std::string& flag) {
        std::vector<std::string> args{"--store", (env.tmp.path() / store).string(), "--option",
                                      "trusted-public-keys", fixture_public_key()};
        if (!flag.empty()) args.push_back(flag);
        for (std::string a : {"build", "--dry-run", "--substituters"}) args.push_back(a);
        args.push_back(url());
        args.push_back(kDiamond);
        auto r = run_ferry(args);
        EXPECT_EQ(r.status, 0) << r.err;
        return r.err;
    };
    const std::string querying = "querying info about '" + kDiamond + "' on '" + url() + "'";
    const std::string cached = "using the disk cache's answer for '" + kDiamond + "'";
    auto verbose = dry("a", "-v");
    EXPECT_THAT(verbose, HasSubstr(querying));
    auto normal = dry("b", "");
    EXPECT_THAT(normal, HasSubstr("these 8 paths will be fetched"));
    EXPECT_THAT(normal, testing::Not(HasSubstr("querying info")));
    EXPECT_THAT(normal, testing::Not(HasSubstr(cached)));
    EXPECT_THAT(dry("c", "--debug"), HasSubstr(cached));
    EXPECT_EQ(dry("d", "--quiet"), "") << "the dry run's list is at Nix's info level";

    auto r = ferry({"--log-format", "internal-json", "realise", "--substituters", url(), kDiamond});
    ASSERT_EQ(r.status, 0) << r.err;
    auto events = parse_internal_json(r.err);
    auto c = derive_counters(events);
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.fetches_done, 8u);
    EXPECT_EQ(c.builds_expected, 0u);
    EXPECT_GT(c.download_bytes, 0u);
    size_t copied = 0;
    for (const auto& e : events)
        if (const auto* m = std::get_if<LogMessage>(&e); m && m->text.starts_with("copied path '")) ++copied;
    EXPECT_EQ(copied, 8u);
}

TEST_F(CliCacheTest, StoreUrlIsRefusedWhereALocalStoreIsNeeded) {
    auto r = run_ferry({"--store", url(), "realise", kDiamond});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.err, HasSubstr("names a binary cache"));
}

} // namespace

// The whole compat derivation graph, realised with `ferry build` from cache-xz over HTTP into an empty
// store: every output is fetched (nothing is built) and equals Nix's path-info.json.
TEST_F(CliCacheTest, BuildOfTheCompatGraphSubstitutesEveryOutput) {
    auto busybox = compat_dir() / "nar" / "jsm9cyjvamk013ndqlj8ckgaqp3yrw28.nar";
    auto imported = ferry({"store", "import", busybox.string(), "--path",
                           "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static", "--nar-hash",
                           "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFQ="});
    ASSERT_EQ(imported.status, 0) << imported.err;
    auto text = env.tmp.path() / "plain.txt";
    write_file_atomic(text, "a text file made by toFile\n");
    ASSERT_EQ(ferry({"store", "add", "--text", text.string()}).status, 0);
    std::vector<std::string> args{"build", "--no-out-link", "--substituters", url()};
    for (const auto& e : fs::directory_iterator(compat_dir() / "drv")) args.push_back(e.path().string());
    auto r = ferry(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, testing::Not(HasSubstr("building '"))) << "nothing may be built";
    LocalStore store(StoreConfig{.store_dir = "/nix/store", .root = root});
    size_t outputs = 0;
    for (const auto& e : compat_path_infos()) {
        ValidPathInfo expected = to_path_info(kStoreDir, e);
        if (!expected.deriver) continue; // the inputs added above
        auto got = store.query_path_info(expected.path);
        ASSERT_TRUE(got) << expected.path.to_string();
        EXPECT_EQ(got->nar_hash, expected.nar_hash) << expected.path.to_string();
        EXPECT_EQ(got->references, expected.references) << expected.path.to_string();
        EXPECT_EQ(got->deriver, expected.deriver) << expected.path.to_string();
        ++outputs;
    }
    EXPECT_EQ(outputs, 13u);
}
