#pragma once
/// The surroundings of a cache test: a temporary store, a temporary XDG_CACHE_HOME (so the narinfo disk
/// cache is fresh), an event loop with a thread pool, settings with fast retries, and shortcuts to open
/// caches and realise paths through the scheduler.

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/cache/binary_cache.hh"
#include "ferry/cache/open_substituters.hh"
#include "ferry/util/file.hh"
#include "ferry/util/settings.hh"
#include "support/run.hh"
#include "support/store_support.hh"

namespace ferry::test {

/// The fixture caches' public key ("fixture-cache-1:…").
std::string fixture_public_key();
/// Copies the fixture cache `name` ("cache-xz", …) into `dest` (writable, so tests may tamper with it).
void copy_fixture_cache(const std::string& name, const std::filesystem::path& dest);

class CacheEnv {
public:
    CacheEnv();
    ~CacheEnv();

    /// A context made from `settings` as a command would (one HTTP client per call).
    std::shared_ptr<BinaryCacheContext> context();
    /// A BinaryCache for `url` over a fresh context, init() done.
    std::unique_ptr<BinaryCache> open(const std::string& url);

    template <typename T> T run(boost::asio::awaitable<T> task) {
        return run_task(io, std::move(task), std::chrono::seconds(30));
    }

    /// Makes `paths` valid through a Worker whose only substituter is `cache`. Throws RealiseError.
    void realise(Substituter& cache, const std::vector<StorePath>& paths);
    /// query() then fetch() of `path` (no waiting for references); the error message, or "" on success.
    std::string fetch_error(BinaryCache& cache, const StorePath& path);

    TempDir tmp;
    TempStore store;
    Settings settings;
    /// A key that tests sign tampered narinfos with; trusted by `settings` unless removed.
    SecretKey test_key = SecretKey::generate("ferry-test-1");
    boost::asio::io_context io{1};
    boost::asio::thread_pool pool{2};
};

} // namespace ferry::test
