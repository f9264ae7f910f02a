#pragma once
/// A source of store paths that the scheduler can ask and fetch from: a binary cache over HTTP or
/// file://. Used from the worker's io_context thread only; implementations move CPU-heavy work
/// (decompression, hashing, unpacking, SQLite writes) to a thread pool and resume on the loop.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "ferry/cache/narinfo.hh"
#include "ferry/util/error.hh"

namespace ferry {

class LocalStore;

/// A substitute that exists but cannot be used: bad signature, hash mismatch, corrupt or truncated
/// NAR, HTTP failure after retries. The message names the path, the cache and the reason.
class SubstituteError : public Error {
public:
    using Error::Error;
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

    /// Reads `nix-cache-info` (through the disk cache, meta TTL). Throws Error when the cache is
    /// unreachable or its StoreDir differs from ours. Call once before anything else. An implementation
    /// may return before a cold `nix-cache-info` has arrived, so that its round trip overlaps the first
    /// queries: the first query() then throws what went wrong with it (BinaryCache does this).
    virtual boost::asio::awaitable<void> init() = 0;

    /// The narinfo of `path`, or null when the cache does not have it (HTTP 404/403). Answers from the
    /// narinfo disk cache (positive and negative TTLs) when it can. Throws Error on transport failures
    /// and malformed narinfos. Does not check signatures: see fetch().
    virtual boost::asio::awaitable<std::shared_ptr<const NarInfo>> query(const StorePath& path) = 0;

    /// Downloads the NAR of `info`, checks the signature (unless require-sigs is off), FileHash and
    /// FileSize on the compressed bytes and NarHash and NarSize on the NAR while unpacking it into the
    /// store's staging area, then awaits `before_commit` (the scheduler waits there until the path's
    /// references are valid, so downloads overlap) and makes the path valid in one transaction. Does
    /// nothing when the path became valid meanwhile. Throws SubstituteError (or what `before_commit`
    /// throws); the store is unchanged then.
    virtual boost::asio::awaitable<void> fetch(const NarInfo& info, LocalStore& store, FetchProgress& progress,
                                               std::function<boost::asio::awaitable<void>()> before_commit) = 0;
};

} // namespace ferry
