#pragma once
/// The narinfo disk cache: what binary caches answered, kept in SQLite between runs so that a warm
/// query costs no round trip. Per cache URL it keeps the `nix-cache-info` (meta TTL) and, per hash
/// part, either the narinfo text (positive TTL) or the fact that the cache does not have the path
/// (negative TTL). File: `$XDG_CACHE_HOME/ferry/narinfo-cache.sqlite` (WAL).
///
/// Writes are buffered in memory and written in one transaction by flush(): every few hundred entries
/// (the owner runs flush() on a thread pool when wants_flush() says so) and at the end of a command.
/// Lookups see buffered entries at once.
///
/// Threading: lookups (lookup(), lookup_meta()) from one thread at a time (the event loop), through
/// their own SQLite connection: they take microseconds and never wait for a flush. store_*(),
/// wants_flush() and flush() may be called from any thread. Several processes may share the file
/// (WAL, busy timeout).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ferry/cache/narinfo.hh"
#include "ferry/store/sqlite.hh"

namespace ferry {

struct NarinfoDiskCacheOptions {
    /// `narinfo-cache-positive-ttl`: how long a narinfo is believed.
    std::chrono::seconds positive_ttl{30 * 24 * 3600};
    /// `narinfo-cache-negative-ttl`: how long "the cache does not have it" is believed.
    std::chrono::seconds negative_ttl{3600};
    /// `narinfo-cache-meta-ttl`: how long a cache's `nix-cache-info` is believed.
    std::chrono::seconds meta_ttl{7 * 24 * 3600};
    /// Seconds since the epoch; empty: the system clock. Tests put their own clock here.
    std::function<int64_t()> clock;
};

/// What the disk cache knows about one path in one cache.
struct CachedNarinfo {
    enum class Kind { unknown, absent, present };
    Kind kind = Kind::unknown;
    /// The narinfo text when present.
    std::string text;
};

class NarinfoDiskCache {
public:
    /// Buffered entries that make wants_flush() true.
    static constexpr size_t kFlushBatch = 256;

    /// Opens (creating it and its directory when missing) the cache at `file`. Throws SqliteError/Error.
    explicit NarinfoDiskCache(const std::filesystem::path& file, NarinfoDiskCacheOptions options = {});
    /// Flushes what is still buffered; a failure is logged, not thrown.
    ~NarinfoDiskCache();
    NarinfoDiskCache(const NarinfoDiskCache&) = delete;
    NarinfoDiskCache& operator=(const NarinfoDiskCache&) = delete;

    /// `$XDG_CACHE_HOME/ferry/narinfo-cache.sqlite`.
    static std::filesystem::path default_file();

    /// The cache's nix-cache-info when it was stored less than the meta TTL ago.
    std::optional<CacheInfo> lookup_meta(const std::string& url);
    /// What is known of the path with `hash_part` in cache `url`, within the TTLs.
    CachedNarinfo lookup(const std::string& url, std::string_view hash_part);

    void store_meta(const std::string& url, const CacheInfo& info);
    void store_present(const std::string& url, std::string_view hash_part, std::string text);
    void store_absent(const std::string& url, std::string_view hash_part);

    /// True, once, when enough is buffered that a flush should be started; the next call returns true
    /// again only after that flush has run.
    bool wants_flush();
    /// Writes every buffered entry in one transaction (blocking). Throws SqliteError; the entries are
    /// then dropped (they are only a cache).
    void flush();
    /// Entries buffered and not yet written.
    size_t pending() const;

    const std::filesystem::path& file() const noexcept { return file_; }

private:
    struct Entry {
        CachedNarinfo answer;
        int64_t timestamp = 0;
    };
    struct Meta {
        CacheInfo info;
        int64_t timestamp = 0;
    };
    /// Buffered writes: narinfo answers keyed by "url hash", metas by url.
    struct Batch {
        std::unordered_map<std::string, Entry> narinfos;
        std::map<std::string, Meta> metas;
        bool empty() const { return narinfos.empty() && metas.empty(); }
        size_t size() const { return narinfos.size() + metas.size(); }
    };
    class Writer;

    /// Lookups share a read transaction for up to this many lookups or this long.
    static constexpr size_t kReadBatch = 1024;
    static constexpr std::chrono::milliseconds kReadSnapshotAge{20};

    int64_t now() const;
    void begin_read();
    void end_read() noexcept;
    bool fresh(const Entry& e, int64_t now) const;
    std::optional<CachedNarinfo> lookup_buffered(std::string_view url, std::string_view hash_part,
                                                 int64_t now);
    /// The id of cache `url` in the file, as the reader sees it; remembered once found.
    std::optional<int64_t> reader_cache_id(const std::string& url);
    void buffer(std::string key, Entry entry);

    std::filesystem::path file_;
    NarinfoDiskCacheOptions options_;

    // Reading (the lookup thread).
    Database reader_;
    Statement query_nar_;
    Statement query_meta_;
    Statement query_id_;
    std::map<std::string, int64_t> reader_ids_;
    bool reading_ = false;
    size_t read_lookups_ = 0;
    std::chrono::steady_clock::time_point read_started_;

    // Buffered writes.
    mutable std::mutex buffer_mutex_;
    Batch pending_; // not yet handed to a flush
    Batch writing_; // handed to the flush in progress; still visible to lookups
    std::atomic<bool> flush_wanted_{false};
    std::atomic<bool> snapshot_stale_{false};

    // Writing (any thread, one at a time); opened by the first flush unless the file was new.
    std::mutex writer_mutex_;
    std::unique_ptr<Writer> writer_;
};

} // namespace ferry
