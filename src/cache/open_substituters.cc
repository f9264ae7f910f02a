#include "ferry/cache/open_substituters.hh"

#include <algorithm>

namespace asio = boost::asio;

namespace ferry {

http::ClientOptions http_client_options(const Settings& settings) {
    http::ClientOptions options;
    options.max_connections = std::max(1u, settings.http_connections);
    options.connect_timeout = std::chrono::seconds(settings.connect_timeout);
    options.stall_timeout = std::chrono::seconds(settings.stalled_download_timeout);
    options.attempts = std::max(1u, settings.download_attempts);
    options.retry_base_delay = std::chrono::milliseconds(settings.retry_base_delay_ms);
    return options;
}

NarinfoDiskCacheOptions narinfo_disk_cache_options(const Settings& settings) {
    NarinfoDiskCacheOptions options;
    options.positive_ttl = std::chrono::seconds(settings.narinfo_cache_positive_ttl);
    options.negative_ttl = std::chrono::seconds(settings.narinfo_cache_negative_ttl);
    options.meta_ttl = std::chrono::seconds(settings.narinfo_cache_meta_ttl);
    return options;
}

std::shared_ptr<BinaryCacheContext> make_binary_cache_context(const Settings& settings, StoreDir store_dir,
                                                              asio::any_io_executor executor,
                                                              asio::thread_pool& pool,
                                                              const WarningSink& warn) {
    auto context = std::make_shared<BinaryCacheContext>();
    context->store_dir = std::move(store_dir);
    context->pool = &pool;
    context->require_sigs = settings.require_sigs;
    for (const auto& key : settings.trusted_public_keys) {
        try {
            context->trusted_keys.add(PublicKey::parse(key));
        } catch (const Error& e) {
            throw UsageError("bad key in 'trusted-public-keys': {}", e.what());
        }
    }
    try {
        context->disk_cache = std::make_shared<NarinfoDiskCache>(NarinfoDiskCache::default_file(),
                                                                 narinfo_disk_cache_options(settings));
    } catch (const Error& e) {
        if (warn) warn(fmt::format("not using the narinfo disk cache: {}", e.what()));
    }
    context->executor = std::move(executor);
    context->http_options = http_client_options(settings);
    return context;
}

asio::awaitable<std::vector<std::unique_ptr<Substituter>>>
open_substituters(std::shared_ptr<const BinaryCacheContext> context, std::vector<std::string> urls,
                  WarningSink warn) {
    auto warn_ignored = [&warn](const std::string& url, const std::exception& e) {
        if (warn) warn(fmt::format("ignoring substituter '{}': {}", url, e.what()));
    };
    std::vector<std::unique_ptr<BinaryCache>> caches;
    for (const auto& url : urls) {
        try {
            auto cache = std::make_unique<BinaryCache>(url, context);
            // Returns at once unless the disk cache knows the meta data (then it is checked here).
            co_await cache->init();
            caches.push_back(std::move(cache));
        } catch (const Error& e) {
            warn_ignored(url, e);
        }
    }
    if (caches.size() > 1) {
        // Every nix-cache-info is in flight already: awaiting them one after the other costs one round trip.
        std::vector<std::unique_ptr<BinaryCache>> ready;
        for (auto& cache : caches) {
            try {
                co_await cache->wait_ready();
                ready.push_back(std::move(cache));
            } catch (const Error& e) {
                warn_ignored(cache->uri(), e);
            }
        }
        caches = std::move(ready);
    }
    std::stable_sort(caches.begin(), caches.end(),
                     [](const auto& a, const auto& b) { return a->priority() < b->priority(); });
    std::vector<std::unique_ptr<Substituter>> out;
    for (auto& cache : caches)
        out.push_back(std::move(cache));
    co_return out;
}

} // namespace ferry
