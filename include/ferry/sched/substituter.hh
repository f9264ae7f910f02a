#pragma once
/// A source of store paths that the scheduler can ask and fetch from (a binary cache over HTTP or
/// file://, implemented in cache/). Owned by the scheduler and spoken in store-level types: what a
/// substituter knows of a path is a ValidPathInfo plus its download size; what it fetches is a verified
/// staged tree, which the store alone makes valid (see make_valid() in sched/store_view.hh).
///
/// Threading: used from the worker's io_context thread only; implementations move CPU-heavy work
/// (decompression, hashing, unpacking) to a thread pool and resume on the loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/store_view.hh"
#include "ferry/store/path_info.hh"
#include "ferry/util/error.hh"

namespace ferry {

/// A substitute that exists but cannot be used: bad signature, hash mismatch, corrupt or truncated
/// NAR, HTTP failure after retries. The message names the path, the cache and the reason.
class SubstituteError : public Error {
public:
    using Error::Error;
};

/// What a substituter offers for one path. Implementations may derive from it to keep what they need
/// to fetch it (BinaryCache keeps the narinfo); fetch() is only given what its own query() returned.
struct SubstitutablePath {
    explicit SubstitutablePath(ValidPathInfo i, uint64_t download = 0)
        : info(std::move(i)), download_size(download) {}
    virtual ~SubstitutablePath() = default;
    /// NAR hash and size, references, deriver, signatures, content address, as the substituter says.
    ValidPathInfo info;
    /// Compressed bytes to download (0 when unknown).
    uint64_t download_size = 0;
};

/// How a fetch reports its progress, on the loop thread.
struct FetchProgress {
    /// Called with each increment of compressed bytes received (may be empty).
    std::function<void(uint64_t bytes)> on_download;
};

class Substituter {
public:
    virtual ~Substituter() = default;

    /// The cache's URL as configured ("https://cache.example.org", "file:///srv/cache").
    virtual const std::string& uri() const = 0;
    /// Lower is preferred (nix-cache-info `Priority`); valid after init().
    virtual int priority() const = 0;

    /// Reads the cache's meta data. Throws Error when the cache is unreachable or its store directory
    /// differs from ours. Call once before anything else. An implementation may return before the meta
    /// data has arrived, so that its round trip overlaps the first queries: the first query() then
    /// throws what went wrong with it (BinaryCache does this).
    virtual boost::asio::awaitable<void> init() = 0;

    /// What the cache has of `path`, or null when it does not have it. Throws Error on transport
    /// failures and malformed answers. Does not check signatures: see fetch().
    virtual boost::asio::awaitable<std::shared_ptr<const SubstitutablePath>> query(const StorePath& path) = 0;

    /// Downloads `path` (an answer of this substituter's query()), checks its signature (unless the
    /// cache's trust settings say otherwise), its download's hash and size and its NAR hash and size,
    /// and returns the verified tree staged in `store` (StoreView::stage), its info complete with the
    /// hash. Makes nothing valid. Throws SubstituteError naming the path and the cache; nothing is left
    /// staged then.
    virtual boost::asio::awaitable<StagedTree> fetch(const SubstitutablePath& path, StoreView& store,
                                                     FetchProgress& progress) = 0;
};

} // namespace ferry
