// Where a narinfo's URL sends the download (cache/nar_url.hh): Nix's resolution, and the URLs that
// would let a cache reach beyond itself refused.
#include "ferry/cache/nar_url.hh"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;

namespace {

/// The message of resolving `url` for `cache`, or "" when it resolves.
std::string refusal(const std::string& cache, const std::string& url) {
    try {
        resolve_nar_url(cache, url);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

} // namespace

TEST(NarUrl, RelativeUrlsAreAppendedToTheCache) {
    EXPECT_EQ(resolve_nar_url("http://c/sub", "nar/x.nar.xz"), "http://c/sub/nar/x.nar.xz");
    EXPECT_EQ(resolve_nar_url("file:///srv/cache", "nar/x.nar"), "file:///srv/cache/nar/x.nar");
    EXPECT_EQ(resolve_nar_url("http://c", "x..y/a.b..nar"), "http://c/x..y/a.b..nar");
}

TEST(NarUrl, AbsoluteHttpUrlsOfAnHttpCacheAreFollowedAsNixDoes) {
    EXPECT_EQ(resolve_nar_url("https://c", "https://elsewhere/nar/x.nar"), "https://elsewhere/nar/x.nar");
    EXPECT_EQ(resolve_nar_url("http://c", "http://elsewhere/x.nar"), "http://elsewhere/x.nar");
}

TEST(NarUrl, UrlsThatLeaveTheCacheAreRefused) {
    const std::string message = "points outside the binary cache";
    for (const std::string cache : std::vector<std::string>{"http://c/sub", "file:///srv/cache"}) {
        for (const std::string& url : std::vector<std::string>{
                 "../x", "nar/../../x", "..", "nar/..", "%2e%2e/x", "nar/%2E%2e/%2e%2E/x", "/etc/passwd",
                 "file:///etc/passwd", "FILE:///etc/passwd", "ftp://elsewhere/x", "gopher://h/x",
                 "nar%2f..%2f..%2fx", "nar/x.nar?a/../b"}) {
            SCOPED_TRACE(cache + " + " + url);
            std::string error = refusal(cache, url);
            EXPECT_NE(error.find("NAR URL '" + url + "' " + message), std::string::npos) << error;
        }
    }
    // A file:// cache reads files: it follows no absolute URL (Nix takes one as a file name that is
    // not there).
    EXPECT_NE(refusal("file:///srv/cache", "http://elsewhere/x.nar").find(message), std::string::npos);
}

TEST(FuzzRegressions, NarUrlInputsResolveUnderTheCacheOrToAnHttpUrlOrAreRefused) {
    // The nar_url fuzzer's finding was its own: an absolute URL that names a file under the cache's URL
    // ("http://cache.example/sub/…") is followed as it is, as Nix does.
    EXPECT_EQ(resolve_nar_url("http://cache.example/sub", "http://cache.example/sub/x"),
              "http://cache.example/sub/x");
    auto inputs = test::fuzz_regressions("nar_url");
    ASSERT_FALSE(inputs.empty());
    for (const auto& input : inputs) {
        std::string url = read_file(input);
        SCOPED_TRACE(url);
        std::string error = refusal("http://cache.example/sub", url);
        if (error.empty()) {
            std::string resolved = resolve_nar_url("http://cache.example/sub", url);
            EXPECT_TRUE(resolved.starts_with("http://") || resolved.starts_with("https://")) << resolved;
        } else {
            EXPECT_NE(error.find("points outside the binary cache"), std::string::npos) << error;
        }
    }
}
