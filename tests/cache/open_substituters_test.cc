// open_substituters: one BinaryCache per configured URL, initialised together, the unusable ones dropped
// with a warning, the rest in priority order.
#include "ferry/cache/open_substituters.hh"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

class OpenSubstitutersTest : public testing::Test {
protected:
    /// A cache with one path and nix-cache-info's Priority `priority`, served over HTTP.
    std::unique_ptr<HttpServer> serve(const std::string& name, int priority,
                                      const std::string& store_dir = "/nix/store") {
        fs::path dir = env.tmp.path() / name;
        write_synthetic_cache(dir, {{synthetic_store_path(name), {}, name}}, env.test_key, "none", store_dir,
                              priority);
        return std::make_unique<HttpServer>(dir);
    }

    std::vector<std::unique_ptr<Substituter>> open(const std::vector<std::string>& urls) {
        auto context = env.context();
        auto warn = [this](const std::string& w) { warnings.push_back(w); };
        return env.run(open_substituters(context, urls, warn));
    }

    CacheEnv env;
    std::vector<std::string> warnings;
};

std::string strip_slash(std::string url) {
    url.pop_back();
    return url;
}

TEST_F(OpenSubstitutersTest, SortsByPriorityAndDropsUnusableCaches) {
    auto slow = serve("slow", 60);
    auto fast = serve("fast", 10);
    auto foreign = serve("foreign", 5, "/gnu/store");
    auto subs = open({slow->url("/"), "ftp://nowhere.example", foreign->url("/"), fast->url("/")});
    ASSERT_EQ(subs.size(), 2u);
    EXPECT_EQ(subs[0]->uri(), strip_slash(fast->url("/")));
    EXPECT_EQ(subs[0]->priority(), 10);
    EXPECT_EQ(subs[1]->uri(), strip_slash(slow->url("/")));
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_THAT(warnings[0], HasSubstr("ignoring substituter 'ftp://nowhere.example'"));
    EXPECT_THAT(warnings[1], HasSubstr("is for store '/gnu/store', not '/nix/store'"));
    for (const auto& w : warnings)
        EXPECT_EQ(w.find('\n'), std::string::npos);
    // Each cache answers for its own path.
    EXPECT_TRUE(env.run(subs[0]->query(synthetic_store_path("fast"))));
    EXPECT_FALSE(env.run(subs[0]->query(synthetic_store_path("slow"))));
}

TEST_F(OpenSubstitutersTest, OneCacheDoesNotWaitForNixCacheInfo) {
    auto only = serve("only", 30);
    only->set_fault("/nix-cache-info", {.delay = std::chrono::milliseconds(300)});
    auto subs = open({only->url("/")});
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0]->priority(), 50); // nix-cache-info has not arrived: open did not wait for it
    // Its first query sends at once and returns once nix-cache-info is known.
    EXPECT_TRUE(env.run(subs[0]->query(synthetic_store_path("only"))));
    EXPECT_EQ(subs[0]->priority(), 30);
}

TEST_F(OpenSubstitutersTest, UnreachableCacheIsDroppedWhenThereAreSeveral) {
    auto good = serve("good", 40);
    env.settings.download_attempts = 1;
    auto subs = open({"http://127.0.0.1:1", good->url("/")});
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0]->uri(), strip_slash(good->url("/")));
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_THAT(warnings[0], HasSubstr("ignoring substituter 'http://127.0.0.1:1'"));
}

} // namespace
