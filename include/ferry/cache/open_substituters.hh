#pragma once
/// Opening the substituters a command is configured with (`substituters`, `trusted-public-keys`,
/// `require-sigs`, `http-connections`, timeouts, retries, narinfo TTLs).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/cache/binary_cache.hh"
#include "ferry/util/settings.hh"

namespace ferry {

/// Receives one-line warnings ("ignoring substituter …").
using WarningSink = std::function<void(const std::string&)>;

/// The HTTP client options the settings describe.
http::ClientOptions http_client_options(const Settings& settings);
/// The narinfo disk cache's TTLs from the settings.
NarinfoDiskCacheOptions narinfo_disk_cache_options(const Settings& settings);

/// What every cache of a command shares: one HTTP client on `executor` (the loop thread that will use
/// the caches), the narinfo disk cache at NarinfoDiskCache::default_file() (none, after a warning, when
/// it cannot be opened), `pool`, the trusted keys and require-sigs. Throws UsageError for a malformed
/// trusted key.
std::shared_ptr<BinaryCacheContext> make_binary_cache_context(const Settings& settings, StoreDir store_dir,
                                                              boost::asio::any_io_executor executor,
                                                              boost::asio::thread_pool& pool,
                                                              const WarningSink& warn);

/// Makes a BinaryCache for each of `urls` over `context` and initialises them. A cache that fails (a
/// bad URL, an unreachable cache, another StoreDir) is dropped with a one-line warning. With one cache,
/// init() does not wait for a cold nix-cache-info (its round trip overlaps the first queries, which
/// report its failure); with several, their nix-cache-info are awaited together (one round trip), since
/// their order depends on them. Returns the caches sorted by priority (stable: configuration order
/// among equals). Runs on the context's loop thread.
boost::asio::awaitable<std::vector<std::unique_ptr<Substituter>>>
open_substituters(std::shared_ptr<const BinaryCacheContext> context, std::vector<std::string> urls,
                  WarningSink warn);

} // namespace ferry
