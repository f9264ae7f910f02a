#include "ferry/cache/binary_cache.hh"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "ferry/cache/nar_download.hh"
#include "ferry/cache/nar_url.hh"
#include "ferry/util/event.hh"
#include "ferry/util/events.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

std::string strip_trailing_slashes(std::string url) {
    while (url.size() > 1 && url.back() == '/' && !url.ends_with("://"))
        url.pop_back();
    return url;
}

bool is_cancellation(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const http::HttpError& e) {
        return e.kind() == http::HttpError::Kind::cancelled || e.kind() == http::HttpError::Kind::shut_down;
    } catch (const boost::system::system_error& e) {
        return e.code() == asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

/// "cannot substitute 'PATH' from 'URL': REASON", the reason kept apart (Error::message()) so that the
/// scheduler can list the reasons of several caches.
SubstituteError substitute_error(const std::string& path, const std::string& url, std::string reason) {
    SubstituteError error(std::move(reason));
    error.add_context(fmt::format("cannot substitute '{}' from '{}'", path, url));
    return error;
}

ValidPathInfo to_valid_path_info(const NarInfo& info) {
    ValidPathInfo out(info.path, info.nar_hash, info.nar_size);
    out.references = info.references;
    out.deriver = info.deriver;
    out.signatures = info.signatures;
    if (!info.ca.empty()) out.ca = info.ca;
    return out;
}

} // namespace

NarInfoPath::NarInfoPath(std::shared_ptr<const NarInfo> n)
    : SubstitutablePath(to_valid_path_info(*n), n->file_size), narinfo(std::move(n)) {}

http::Client& BinaryCacheContext::http() const {
    if (!client) client = std::make_shared<http::Client>(executor, http_options);
    return *client;
}

Semaphore& BinaryCacheContext::download_slots() const {
    if (!slots)
        slots = std::make_shared<Semaphore>(executor, 2 * std::max(1u, http_options.max_connections),
                                            Semaphore::Order::lifo);
    return *slots;
}

bool is_binary_cache_url(std::string_view url) {
    return url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://");
}

/// nix-cache-info as far as it is known; shared with the coroutine that fetches it.
struct BinaryCache::Meta {
    explicit Meta(const asio::any_io_executor& ex) : ready(ex) {}
    Event ready;
    /// Stops the fetch when the cache goes away first. Here, because it must outlive the fetch.
    asio::cancellation_signal cancel;
    std::optional<CacheInfo> info;
    std::exception_ptr error;
    bool error_reported = false;
};

BinaryCache::BinaryCache(std::string url, std::shared_ptr<const BinaryCacheContext> context)
    : url_(strip_trailing_slashes(std::move(url))), context_(std::move(context)),
      // A file:// cache is read as fast as the disk cache would be, and may change under us.
      use_disk_cache_(context_->disk_cache && !url_.starts_with("file://")) {
    if (!is_binary_cache_url(url_))
        throw Error("'{}' is not a binary cache URL (http://, https:// or file://)", url_);
}

BinaryCache::~BinaryCache() {
    // Nobody will ask any more: a nix-cache-info still in flight must not keep the event loop busy.
    if (meta_ && !meta_->ready.is_set()) meta_->cancel.emit(asio::cancellation_type::terminal);
}

int BinaryCache::priority() const {
    return meta_ && meta_->info ? meta_->info->priority : CacheInfo{}.priority;
}

bool BinaryCache::want_mass_query() const {
    return meta_ && meta_->info && meta_->info->want_mass_query;
}

namespace {

void check_store_dir(const CacheInfo& info, const std::string& url, const StoreDir& ours) {
    if (info.store_dir != ours.dir())
        throw Error("binary cache '{}' is for store '{}', not '{}'", url, info.store_dir, ours.dir());
}

} // namespace

asio::awaitable<void> BinaryCache::init() {
    if (meta_) co_return;
    auto executor = co_await asio::this_coro::executor;
    meta_ = std::make_shared<Meta>(executor);
    if (use_disk_cache_) {
        std::optional<CacheInfo> cached;
        try {
            cached = context_->disk_cache->lookup_meta(url_);
        } catch (const SqliteError& e) {
            warn("cannot read the narinfo disk cache: {}", e.what());
        }
        if (cached) {
            meta_->info = *cached;
            meta_->ready.set();
            try {
                check_store_dir(*cached, url_, context_->store_dir);
            } catch (...) {
                meta_->error = std::current_exception();
                meta_->error_reported = true; // by this throw
                throw;
            }
            co_return;
        }
    }
    // Created here, while the client surely lives; the request itself keeps what it needs.
    // Urgent, like the narinfo queries: everything waits on it.
    http::Request request =
        http::Request(url_ + "/nix-cache-info").with_urgent().with_max_body(kMaxNarinfoSize);
    auto response = context_->http().get(std::move(request));
    asio::co_spawn(executor, fetch_meta(meta_, std::move(response), context_, url_),
                   asio::bind_cancellation_slot(meta_->cancel.slot(), asio::detached));
}

asio::awaitable<void> BinaryCache::fetch_meta(std::shared_ptr<Meta> meta,
                                              asio::awaitable<http::Response> request,
                                              std::shared_ptr<const BinaryCacheContext> context,
                                              std::string url) {
    try {
        http::Response response = co_await std::move(request);
        if (!response.ok())
            throw Error("binary cache '{}' has no 'nix-cache-info' (HTTP status {})", url, response.status);
        CacheInfo info = CacheInfo::parse(response.body, url + "/nix-cache-info");
        // Remembered even when unusable, so that the next run refuses the cache without asking again.
        if (context->disk_cache && !url.starts_with("file://")) context->disk_cache->store_meta(url, info);
        meta->info = info;
        check_store_dir(info, url, context->store_dir);
    } catch (...) {
        meta->error = std::current_exception();
    }
    meta->ready.set();
}

asio::awaitable<void> BinaryCache::wait_ready() {
    if (!meta_) throw Error("binary cache '{}' used before init()", url_);
    if (!meta_->ready.is_set()) co_await meta_->ready.wait();
    if (meta_->error) std::rethrow_exception(meta_->error);
}

asio::awaitable<bool> BinaryCache::usable() {
    if (!meta_) throw Error("binary cache '{}' used before init()", url_);
    if (!meta_->ready.is_set()) co_await meta_->ready.wait();
    if (!meta_->error) co_return true;
    if (meta_->error_reported) co_return false;
    meta_->error_reported = true;
    std::rethrow_exception(meta_->error);
}

std::optional<CachedNarinfo> BinaryCache::lookup_disk(std::string_view hash_part) {
    if (!use_disk_cache_) return std::nullopt;
    try {
        CachedNarinfo cached = context_->disk_cache->lookup(url_, hash_part);
        if (cached.kind != CachedNarinfo::Kind::unknown) return cached;
    } catch (const SqliteError& e) {
        warn("cannot read the narinfo disk cache: {}", e.what());
    }
    return std::nullopt;
}

void BinaryCache::remember(std::string_view hash_part, const std::string* text) {
    if (!use_disk_cache_) return;
    auto& cache = context_->disk_cache;
    if (text)
        cache->store_present(url_, hash_part, *text);
    else
        cache->store_absent(url_, hash_part);
    if (!cache->wants_flush()) return;
    asio::post(*context_->pool, [cache] {
        try {
            cache->flush();
        } catch (const std::exception& e) {
            warn("cannot write the narinfo disk cache: {}", e.what());
        }
    });
}

std::shared_ptr<const NarInfo> BinaryCache::parse_narinfo(const StorePath& path, std::string_view text,
                                                          const std::string& where) const {
    auto info = std::make_shared<NarInfo>(NarInfo::parse(context_->store_dir, text, where));
    // The same hash part with another name is another path, which the cache does not have (as Nix).
    if (info->path != path) return nullptr;
    return info;
}

asio::awaitable<std::shared_ptr<const SubstitutablePath>> BinaryCache::query(const StorePath& path) {
    auto narinfo = co_await query_narinfo(path);
    if (!narinfo) co_return nullptr;
    co_return std::make_shared<const NarInfoPath>(std::move(narinfo));
}

asio::awaitable<std::shared_ptr<const NarInfo>> BinaryCache::query_narinfo(const StorePath& path) {
    std::string hash_part(path.hash_part());
    std::string where = url_ + "/" + hash_part + ".narinfo";
    std::optional<CachedNarinfo> cached = lookup_disk(hash_part);
    std::optional<http::Response> response;
    // As Nix: a query of the cache is an activity (shown at -v); an answer from the disk cache a debug line.
    Activity activity;
    if (cached)
        log_debug("using the disk cache's answer for '{}' on '{}'", context_->store_dir.print(path), url_);
    else
        activity =
            Activity(events(), ActivityType::query_path_info, Level::talkative,
                     fmt::format("querying info about '{}' on '{}'", context_->store_dir.print(path), url_),
                     {context_->store_dir.print(path), url_});
    if (!cached && !(meta_ && meta_->error)) {
        // Sent before the meta data is known: its round trip overlaps nix-cache-info's. Urgent:
        // discovery waits on it, so it overtakes the NAR downloads in the client's queue.
        http::Request request = http::Request(where).with_urgent().with_max_body(kMaxNarinfoSize);
        http::Response r = co_await context_->http().get(std::move(request));
        response = std::move(r);
    }
    bool ok = co_await usable();
    if (!ok) co_return nullptr;
    if (cached) {
        if (cached->kind == CachedNarinfo::Kind::absent) co_return nullptr;
        bool damaged = false;
        std::shared_ptr<const NarInfo> info;
        try {
            info = parse_narinfo(path, cached->text, where);
        } catch (const FormatError&) {
            damaged = true;
        }
        if (!damaged) co_return info;
        // A damaged entry: ask the cache again.
        http::Request request = http::Request(where).with_urgent().with_max_body(kMaxNarinfoSize);
        http::Response r = co_await context_->http().get(std::move(request));
        response = std::move(r);
    }
    if (!response->ok()) {
        remember(hash_part, nullptr);
        co_return nullptr;
    }
    auto info = parse_narinfo(path, response->body, where);
    remember(hash_part, &response->body);
    co_return info;
}

void BinaryCache::check_signature(const NarInfo& info) const {
    if (!context_->require_sigs || info.verify(context_->store_dir, context_->trusted_keys)) return;
    throw substitute_error(context_->store_dir.print(info.path), url_, "no signature by a trusted key");
}

std::string BinaryCache::nar_url(const NarInfo& info) const {
    return resolve_nar_url(url_, info.url);
}

asio::awaitable<void> BinaryCache::download(const NarInfo& info, StoreView& store, FetchProgress& progress,
                                            std::vector<std::shared_ptr<NarDownload>>& attempts) {
    std::string url = nar_url(info);
    auto gate = url.starts_with("file://") ? nullptr : std::make_shared<http::BodyGate>();
    auto current = NarDownload::make(*context_->pool, store, info, gate);
    attempts.push_back(current);
    // Both capture by reference: they live in this frame, which outlives the request.
    auto sink = [&current, &progress](std::string_view piece) {
        current->push(piece);
        if (progress.on_download) progress.on_download(piece.size());
    };
    auto restart = [&] {
        // The body comes again from its first byte: a fresh staging directory and fresh hashers.
        current->abandon();
        current = NarDownload::make(*context_->pool, store, info, gate);
        attempts.push_back(current);
    };
    http::Request request = http::Request(url).with_sink(sink).with_restart(restart).with_gate(gate);
    http::Response response = co_await context_->http().get(std::move(request));
    if (!response.ok()) throw Error("NAR '{}' is not in the cache (HTTP status {})", url, response.status);
    co_await current->finish();
}

void BinaryCache::rethrow_as_substitute_error(std::exception_ptr error, const NarInfo& info) const {
    try {
        std::rethrow_exception(error);
    } catch (const SubstituteError&) {
        throw;
    } catch (const std::exception& e) {
        throw substitute_error(context_->store_dir.print(info.path), url_, e.what());
    }
}

asio::awaitable<StagedTree> BinaryCache::fetch(const SubstitutablePath& path, StoreView& store,
                                               FetchProgress& progress) {
    const auto* offered = dynamic_cast<const NarInfoPath*>(&path);
    if (!offered)
        throw Error("binary cache '{}' cannot fetch '{}': it did not offer it", url_,
                    context_->store_dir.print(path.info.path));
    const NarInfo& info = *offered->narinfo;
    check_signature(info);
    std::vector<std::shared_ptr<NarDownload>> attempts;
    std::exception_ptr failure;
    std::unique_ptr<StagedPath> staged;
    try {
        auto slot = co_await context_->download_slots().acquire();
        co_await download(info, store, progress, attempts);
        staged = co_await attempts.back()->take();
    } catch (...) {
        failure = std::current_exception();
    }
    // Whatever happened (a cancellation too), no other staging directory may outlive the fetch.
    co_await asio::this_coro::reset_cancellation_state();
    for (auto& attempt : attempts)
        co_await attempt->close();
    if (failure) {
        if (is_cancellation(failure)) std::rethrow_exception(failure);
        rethrow_as_substitute_error(failure, info);
    }
    co_return StagedTree{std::move(staged), to_valid_path_info(info)};
}

} // namespace ferry
