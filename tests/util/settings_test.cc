#include "ferry/util/settings.hh"

#include <gtest/gtest.h>

#include "ferry/util/error.hh"

using namespace ferry;

TEST(Settings, DefaultsAreNixs) {
    Settings s;
    EXPECT_EQ(s.http_connections, 150u);
    EXPECT_EQ(s.download_attempts, 5u);
    EXPECT_EQ(s.narinfo_cache_positive_ttl, 30u * 24 * 3600);
    EXPECT_EQ(s.narinfo_cache_negative_ttl, 3600u);
    EXPECT_TRUE(s.require_sigs);
    EXPECT_EQ(s.get("sandbox"), "true");
}

TEST(Settings, ConfigThenOptions) {
    Settings s;
    s.apply_config("# a comment\nhttp-connections = 25\n\n  substituters =  http://a http://b  # two\n"
                   "require-sigs = false\nsandbox-paths =\n",
                   "ferry.conf");
    EXPECT_EQ(s.http_connections, 25u);
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://a", "http://b"}));
    EXPECT_FALSE(s.require_sigs);
    EXPECT_TRUE(s.sandbox_paths.empty());
    s.set("http-connections", "7");
    EXPECT_EQ(s.get("http-connections"), "7");
    s.set("max-jobs", "auto");
    EXPECT_GE(s.effective_max_jobs(), 1u);
}

TEST(Settings, ErrorsNameTheOptionAndLine) {
    Settings s;
    try {
        s.apply_config("cores = 2\nhttp-connections = many\n", "/etc/ferry.conf");
        FAIL();
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(), "/etc/ferry.conf:2: option 'http-connections' must be a non-negative integer, not 'many'");
    }
    EXPECT_THROW(s.set("no-such-option", "1"), UsageError);
    EXPECT_THROW(s.set("require-sigs", "maybe"), UsageError);
    EXPECT_THROW(s.set("sandbox", "perhaps"), UsageError);
    EXPECT_THROW(s.apply_config("just words\n", "x"), UsageError);
}
