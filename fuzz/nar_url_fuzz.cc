/// A narinfo's URL field (cache/nar_url.hh): either a ferry::Error or a URL under the cache's, or an
/// absolute http(s) URL of an http(s) cache; never a file:// URL outside a file cache.
#include <string>

#include "ferry/cache/nar_url.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::string_view url = fuzz::as_text(data, size);
    for (std::string_view cache : {"http://cache.example/sub", "file:///srv/cache"}) {
        try {
            std::string resolved = resolve_nar_url(cache, url);
            bool under_cache = resolved.starts_with(std::string(cache) + "/");
            bool remote = cache.starts_with("http") &&
                          (resolved.starts_with("http://") || resolved.starts_with("https://"));
            if (!under_cache && !remote) fuzz::violated("a NAR URL resolved outside the cache");
            std::string slashed = "/" + std::string(url) + "/";
            // Only a relative URL is appended; an absolute one may name a file under the cache too.
            bool relative = !url.starts_with("http://") && !url.starts_with("https://");
            if (relative &&
                (resolved != std::string(cache) + "/" + std::string(url) ||
                 url.find("://") != std::string_view::npos || slashed.find("/../") != std::string::npos))
                fuzz::violated("a relative NAR URL leaves the cache");
        } catch (const Error&) {
        }
    }
    return 0;
}
