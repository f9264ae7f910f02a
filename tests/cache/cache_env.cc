#include "cache_env.hh"

#include <cstdlib>

#include "ferry/sched/local_store_view.hh"
#include "ferry/sched/worker.hh"
#include "support/fixtures.hh"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace ferry::test {

std::string fixture_public_key() {
    std::string key = read_file(compat_dir() / "keys" / "cache.pub");
    while (!key.empty() && (key.back() == '\n' || key.back() == ' '))
        key.pop_back();
    return key;
}

void copy_fixture_cache(const std::string& name, const fs::path& dest) {
    // File by file: the fixtures are read-only, and copies of their directories would be too.
    fs::path src = compat_dir() / name;
    fs::create_directories(dest);
    for (const auto& e : fs::recursive_directory_iterator(src)) {
        fs::path to = dest / fs::relative(e.path(), src);
        if (e.is_directory()) {
            fs::create_directories(to);
            continue;
        }
        write_file_atomic(to, read_file(e.path()));
    }
}

CacheEnv::CacheEnv() {
    // curl honours these even for 127.0.0.1: talk to the test server directly.
    for (const char* name :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
        ::unsetenv(name);
    ::setenv("XDG_CACHE_HOME", (tmp.path() / "xdg-cache").c_str(), 1);
    settings.retry_base_delay_ms = 1;
    settings.download_attempts = 3;
    settings.trusted_public_keys = {fixture_public_key(), test_key.public_key().to_string()};
}

CacheEnv::~CacheEnv() {
    pool.join();
}

std::shared_ptr<BinaryCacheContext> CacheEnv::context() {
    return make_binary_cache_context(settings, store->store_dir(), io.get_executor(), pool, nullptr);
}

std::unique_ptr<BinaryCache> CacheEnv::open(const std::string& url) {
    auto cache = std::make_unique<BinaryCache>(url, context());
    run(cache->init());
    return cache;
}

void CacheEnv::realise(Substituter& cache, const std::vector<StorePath>& paths) {
    Progress progress;
    WorkerOptions options;
    options.max_jobs = 1;
    LocalStoreView view(*store.store, pool);
    Worker worker(io, pool, view, {&cache}, nullptr, options, progress);
    std::vector<Target> targets;
    for (const auto& p : paths)
        targets.push_back(Target{p, {}});
    run(worker.realise(targets));
}

std::string CacheEnv::fetch_error(BinaryCache& cache, const StorePath& path) {
    auto task = [&]() -> asio::awaitable<void> {
        std::shared_ptr<const SubstitutablePath> offer = co_await cache.query(path);
        if (!offer) throw Error("'{}' is not in the cache", path.to_string());
        FetchProgress progress;
        LocalStoreView view(*store.store, pool);
        StagedTree tree = co_await cache.fetch(*offer, view, progress);
        std::vector<StagedTree> trees;
        trees.push_back(std::move(tree));
        co_await make_valid(view, std::move(trees));
    };
    try {
        run(task());
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

} // namespace ferry::test
