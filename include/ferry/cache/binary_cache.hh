#pragma once
/// A binary cache as a Substituter: `http://`, `https://` and `file://` caches in Nix's layout
/// (`nix-cache-info`, `<hash part>.narinfo`, `nar/…`), read through the shared HTTP client.
///
/// Round trips: init() answers from the narinfo disk cache when it can; otherwise it only *starts*
/// fetching `nix-cache-info`, and queries go out at once, each awaiting the cache's meta data before
/// it returns. A cold closure of depth d thus costs d + 1 round trips, `nix-cache-info` included.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/cache/narinfo.hh"
#include "ferry/cache/narinfo_disk_cache.hh"
#include "ferry/cache/signature.hh"
#include "ferry/http/client.hh"
#include "ferry/sched/substituter.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/event.hh"

namespace ferry {

class NarDownload;

/// What the binary caches of one command share (see make_binary_cache_context). Each cache holds it;
/// the pool is not owned and must outlive every cache.
struct BinaryCacheContext {
    /// The one HTTP client of every cache, made on first use (a run that the disk cache answers never
    /// makes one). It belongs to the loop thread of `executor`: use it there only, and let the last cache
    /// go before that io_context.
    http::Client& http() const;

    boost::asio::any_io_executor executor;
    http::ClientOptions http_options;
    /// Decompression, unpacking, store registration and disk cache flushes run here.
    boost::asio::thread_pool* pool = nullptr;
    /// Null: no disk cache (every answer is asked for).
    std::shared_ptr<NarinfoDiskCache> disk_cache;
    StoreDir store_dir;
    TrustedKeys trusted_keys;
    /// `require-sigs`: fetch() refuses a narinfo without a signature by a trusted key.
    bool require_sigs = true;

    /// Downloads that may be receiving or unpacking at once (twice `http-connections`): when unpacking
    /// and registering fall behind the network, new downloads wait instead of piling up decoders and
    /// buffers in memory. A download waiting for its references holds no slot. Waiting downloads get
    /// slots newest first: discovery runs from the roots down, registration from the leaves up, so the
    /// newest paths (the deepest) are the ones the others wait for.
    Semaphore& download_slots() const;

    /// Made by http(); only touched on the loop thread.
    mutable std::shared_ptr<http::Client> client;
    /// Made by download_slots(); only touched on the loop thread.
    mutable std::shared_ptr<Semaphore> slots;
};

/// A binary cache's answer for one path: the path info and download size its narinfo gives, and the
/// narinfo itself (URL, compression, file hash), which fetch() needs. Immutable once made.
struct NarInfoPath final : SubstitutablePath {
    explicit NarInfoPath(std::shared_ptr<const NarInfo> narinfo);
    std::shared_ptr<const NarInfo> narinfo;
};

/// Whether `url` names a binary cache this module can read (http://, https://, file://).
bool is_binary_cache_url(std::string_view url);

/// Threading: the loop thread of the context's client, like every Substituter. Ownership: holds the
/// context; a fetch of nix-cache-info still in flight when the cache is destroyed finishes on its own.
class BinaryCache final : public Substituter {
public:
    /// `url` with or without a trailing '/'. Throws Error when it is not an http(s):// or file:// URL.
    BinaryCache(std::string url, std::shared_ptr<const BinaryCacheContext> context);
    ~BinaryCache() override;

    const std::string& uri() const override { return url_; }
    /// nix-cache-info's Priority once known, 50 (Nix's default) before.
    int priority() const override;
    /// nix-cache-info's WantMassQuery once known.
    bool want_mass_query() const;

    /// From the disk cache when its entry is fresh: then everything is known at once, and a StoreDir
    /// other than ours throws. Otherwise starts fetching nix-cache-info and returns without waiting.
    boost::asio::awaitable<void> init() override;
    /// Waits until nix-cache-info is known; throws what went wrong with it (unreachable, malformed,
    /// `binary cache 'URL' is for store '/gnu/store', not '/nix/store'`).
    boost::asio::awaitable<void> wait_ready();

    /// query_narinfo(), as the scheduler sees it (a NarInfoPath).
    boost::asio::awaitable<std::shared_ptr<const SubstitutablePath>> query(const StorePath& path) override;
    /// `path` must be an answer of this cache's query().
    boost::asio::awaitable<StagedTree> fetch(const SubstitutablePath& path, StoreView& store,
                                             FetchProgress& progress) override;
    /// The narinfo of `path`, or null when the cache does not have it (HTTP 404/403). Answers from the
    /// narinfo disk cache (positive and negative TTLs) when it can. Throws Error on transport failures
    /// and malformed narinfos. Does not check signatures.
    boost::asio::awaitable<std::shared_ptr<const NarInfo>> query_narinfo(const StorePath& path);

private:
    struct Meta;

    static boost::asio::awaitable<void> fetch_meta(std::shared_ptr<Meta> meta,
                                                   boost::asio::awaitable<http::Response> request,
                                                   std::shared_ptr<const BinaryCacheContext> context,
                                                   std::string url);
    /// Waits for the meta data. False when it failed and that was reported already (by an earlier
    /// query, which threw it): the cache is then treated as empty.
    boost::asio::awaitable<bool> usable();
    /// The narinfo in `text`; null when it is for another path with the same hash part. Throws
    /// FormatError.
    std::shared_ptr<const NarInfo> parse_narinfo(const StorePath& path, std::string_view text,
                                                 const std::string& where) const;
    std::optional<CachedNarinfo> lookup_disk(std::string_view hash_part);
    void remember(std::string_view hash_part, const std::string* text);
    void check_signature(const NarInfo& info) const;
    std::string nar_url(const NarInfo& info) const;
    boost::asio::awaitable<void> download(const NarInfo& info, StoreView& store, FetchProgress& progress,
                                          std::vector<std::shared_ptr<NarDownload>>& attempts);
    [[noreturn]] void rethrow_as_substitute_error(std::exception_ptr error, const NarInfo& info) const;

    std::string url_;
    std::shared_ptr<const BinaryCacheContext> context_;
    std::shared_ptr<Meta> meta_;
    bool use_disk_cache_;
};

} // namespace ferry
