#include "ferry/cache/narinfo_disk_cache.hh"

#include <ctime>

#include "ferry/util/events.hh"
#include "ferry/util/settings.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

constexpr int64_t kSchemaVersion = 1;
/// Expired rows are deleted at most this often.
constexpr int64_t kPurgeInterval = 24 * 3600;

const char* const kSchema = R"sql(
create table if not exists BinaryCaches (
    id            integer primary key autoincrement not null,
    url           text unique not null,
    timestamp     integer not null, -- when nix-cache-info was stored; 0: never
    storeDir      text not null,
    wantMassQuery integer not null,
    priority      integer not null
);
create table if not exists NARs (
    cache     integer not null,
    hashPart  text not null,
    timestamp integer not null,
    present   integer not null,
    narinfo   text,
    primary key (cache, hashPart),
    foreign key (cache) references BinaryCaches(id) on delete cascade
);
create table if not exists LastPurge (value integer not null);
)sql";

std::string narinfo_key(std::string_view url, std::string_view hash_part) {
    std::string key;
    key.reserve(url.size() + 1 + hash_part.size());
    key.append(url).append(1, '\n').append(hash_part);
    return key;
}

/// `file`, once its directory exists.
const fs::path& with_parent_dir(const fs::path& file) {
    if (file.has_parent_path()) fs::create_directories(file.parent_path());
    return file;
}

int64_t schema_version(Database& db) {
    auto stmt = db.prepare("pragma user_version");
    auto q = stmt.use();
    return q.next() ? q.get_int(0) : 0;
}

void check_version(Database& db, int64_t version) {
    if (version > kSchemaVersion)
        throw Error("narinfo disk cache '{}' has schema version {}, newer than the version {} this ferry "
                    "supports (delete the file)",
                    db.path().string(), version, kSchemaVersion);
}

/// Creates the tables (once per file, in a write transaction).
void init_schema(Database& db) {
    Transaction txn(db, Transaction::Mode::immediate);
    int64_t version = schema_version(db);
    check_version(db, version);
    if (version < kSchemaVersion) {
        db.exec(kSchema);
        db.exec("pragma user_version = " + std::to_string(kSchemaVersion));
    }
    txn.commit();
}

} // namespace

/// The writing connection and its statements. Used under NarinfoDiskCache::writer_mutex_ only.
class NarinfoDiskCache::Writer {
public:
    explicit Writer(const fs::path& file) : db_(file) {
        db_.set_busy_timeout(std::chrono::minutes(1));
        db_.exec("pragma journal_mode = wal");
        db_.exec("pragma synchronous = normal");
        db_.exec("pragma foreign_keys = on");
        init_schema(db_);
        add_cache_ =
            db_.prepare("insert into BinaryCaches (url, timestamp, storeDir, wantMassQuery, priority) "
                        "values (?, 0, '', 0, 0) on conflict(url) do nothing");
        query_cache_ = db_.prepare("select id from BinaryCaches where url = ?");
        upsert_meta_ = db_.prepare(
            "insert into BinaryCaches (url, timestamp, storeDir, wantMassQuery, priority) values (?, ?, ?, "
            "?, ?) "
            "on conflict(url) do update set timestamp = excluded.timestamp, storeDir = excluded.storeDir, "
            "wantMassQuery = excluded.wantMassQuery, priority = excluded.priority");
        upsert_nar_ = db_.prepare("insert or replace into NARs (cache, hashPart, timestamp, present, "
                                  "narinfo) values (?, ?, ?, ?, ?)");
    }

    void write(const Batch& batch, const NarinfoDiskCacheOptions& options, int64_t now) {
        Transaction txn(db_, Transaction::Mode::immediate);
        for (const auto& [url, meta] : batch.metas)
            upsert_meta_.use()
                .bind(url)
                .bind(meta.timestamp)
                .bind(meta.info.store_dir)
                .bind(int64_t(meta.info.want_mass_query))
                .bind(int64_t(meta.info.priority))
                .run();
        for (const auto& [key, entry] : batch.narinfos) {
            auto newline = key.find('\n');
            int64_t cache = cache_id(key.substr(0, newline));
            auto q = upsert_nar_.use();
            q.bind(cache).bind(std::string_view(key).substr(newline + 1)).bind(entry.timestamp);
            q.bind(int64_t(entry.answer.kind == CachedNarinfo::Kind::present));
            if (entry.answer.kind == CachedNarinfo::Kind::present)
                q.bind(entry.answer.text);
            else
                q.bind_null();
            q.run();
        }
        purge_if_due(options, now);
        txn.commit();
    }

private:
    int64_t cache_id(const std::string& url) {
        if (auto it = ids_.find(url); it != ids_.end()) return it->second;
        add_cache_.use().bind(url).run();
        auto q = query_cache_.use();
        q.bind(url);
        if (!q.next())
            throw Error("narinfo disk cache '{}' lost its entry for '{}'", db_.path().string(), url);
        int64_t id = q.get_int(0);
        ids_.emplace(url, id);
        return id;
    }

    /// Deletes expired answers, at most once a day (they are skipped by lookups anyway).
    void purge_if_due(const NarinfoDiskCacheOptions& options, int64_t now) {
        auto last = db_.prepare("select value from LastPurge");
        {
            auto q = last.use();
            if (q.next() && q.get_int(0) > now - kPurgeInterval) return;
        }
        auto purge = db_.prepare("delete from NARs where (present = 1 and timestamp < ?) or "
                                 "(present = 0 and timestamp < ?)");
        purge.use().bind(now - options.positive_ttl.count()).bind(now - options.negative_ttl.count()).run();
        db_.exec("delete from LastPurge");
        auto set = db_.prepare("insert into LastPurge (value) values (?)");
        set.use().bind(now).run();
    }

    Database db_;
    Statement add_cache_, query_cache_, upsert_meta_, upsert_nar_;
    std::map<std::string, int64_t> ids_;
};

NarinfoDiskCache::NarinfoDiskCache(const fs::path& file, NarinfoDiskCacheOptions options)
    : file_(file), options_(std::move(options)), reader_(with_parent_dir(file)) {
    reader_.set_busy_timeout(std::chrono::seconds(5));
    int64_t version = schema_version(reader_);
    check_version(reader_, version);
    // A new file: the writer switches it to WAL and creates the tables before anything reads them.
    // Otherwise the writer is only opened by the first flush (a warm run never opens it).
    if (version < kSchemaVersion) writer_ = std::make_unique<Writer>(file);
    query_nar_ =
        reader_.prepare("select present, narinfo, timestamp from NARs where cache = ? and hashPart = ?");
    query_id_ = reader_.prepare("select id from BinaryCaches where url = ?");
    query_meta_ = reader_.prepare("select timestamp, storeDir, wantMassQuery, priority from BinaryCaches "
                                  "where url = ?");
}

NarinfoDiskCache::~NarinfoDiskCache() {
    end_read();
    try {
        flush();
    } catch (const std::exception& e) {
        warn("cannot write the narinfo disk cache: {}", e.what());
    }
}

void NarinfoDiskCache::begin_read() {
    // One read transaction serves many lookups: a statement outside one takes and drops SQLite's WAL read
    // lock each time, which costs more than the lookup. The snapshot is refreshed every few milliseconds.
    auto now = std::chrono::steady_clock::now();
    // After our own flush the snapshot would miss what it wrote (and no longer holds in memory).
    bool stale = snapshot_stale_.exchange(false);
    if (reading_ && !stale && read_lookups_ < kReadBatch && now - read_started_ < kReadSnapshotAge) {
        ++read_lookups_;
        return;
    }
    end_read();
    reader_.exec("begin");
    reading_ = true;
    read_started_ = now;
    read_lookups_ = 1;
}

void NarinfoDiskCache::end_read() noexcept {
    if (!reading_) return;
    reading_ = false;
    sqlite3_exec(reader_.handle(), "commit", nullptr, nullptr, nullptr);
}

fs::path NarinfoDiskCache::default_file() {
    return xdg_cache_home() / "ferry" / "narinfo-cache.sqlite";
}

int64_t NarinfoDiskCache::now() const {
    return options_.clock ? options_.clock() : int64_t(std::time(nullptr));
}

bool NarinfoDiskCache::fresh(const Entry& e, int64_t now) const {
    auto ttl = e.answer.kind == CachedNarinfo::Kind::present ? options_.positive_ttl : options_.negative_ttl;
    return e.timestamp > now - ttl.count();
}

std::optional<CachedNarinfo> NarinfoDiskCache::lookup_buffered(std::string_view url,
                                                               std::string_view hash_part, int64_t now) {
    std::lock_guard lock(buffer_mutex_);
    if (pending_.narinfos.empty() && writing_.narinfos.empty()) return std::nullopt;
    std::string key = narinfo_key(url, hash_part);
    for (const Batch* batch : {&pending_, &writing_}) {
        auto it = batch->narinfos.find(key);
        if (it != batch->narinfos.end() && fresh(it->second, now)) return it->second.answer;
    }
    return std::nullopt;
}

std::optional<int64_t> NarinfoDiskCache::reader_cache_id(const std::string& url) {
    if (auto it = reader_ids_.find(url); it != reader_ids_.end()) return it->second;
    auto q = query_id_.use();
    q.bind(url);
    if (!q.next()) return std::nullopt; // not remembered: a later snapshot may have it
    return reader_ids_.emplace(url, q.get_int(0)).first->second;
}

CachedNarinfo NarinfoDiskCache::lookup(const std::string& url, std::string_view hash_part) {
    int64_t t = now();
    if (auto buffered = lookup_buffered(url, hash_part, t)) return std::move(*buffered);
    begin_read();
    std::optional<int64_t> id = reader_cache_id(url);
    if (!id) return {};
    auto q = query_nar_.use();
    q.bind(*id).bind(hash_part);
    if (!q.next()) return {};
    Entry e;
    e.answer.kind = q.get_int(0) ? CachedNarinfo::Kind::present : CachedNarinfo::Kind::absent;
    e.timestamp = q.get_int(2);
    if (!fresh(e, t)) return {};
    if (e.answer.kind == CachedNarinfo::Kind::present) e.answer.text = q.get_text(1);
    return std::move(e.answer);
}

std::optional<CacheInfo> NarinfoDiskCache::lookup_meta(const std::string& url) {
    int64_t t = now();
    {
        std::lock_guard lock(buffer_mutex_);
        for (const Batch* batch : {&pending_, &writing_})
            if (auto it = batch->metas.find(url); it != batch->metas.end()) return it->second.info;
    }
    begin_read();
    auto q = query_meta_.use();
    q.bind(url);
    if (!q.next() || q.get_int(0) <= t - options_.meta_ttl.count()) return std::nullopt;
    CacheInfo info;
    info.store_dir = q.get_text(1);
    info.want_mass_query = q.get_int(2) != 0;
    info.priority = int(q.get_int(3));
    return info;
}

void NarinfoDiskCache::buffer(std::string key, Entry entry) {
    std::lock_guard lock(buffer_mutex_);
    pending_.narinfos.insert_or_assign(std::move(key), std::move(entry));
}

void NarinfoDiskCache::store_meta(const std::string& url, const CacheInfo& info) {
    std::lock_guard lock(buffer_mutex_);
    pending_.metas.insert_or_assign(url, Meta{info, now()});
}

void NarinfoDiskCache::store_present(const std::string& url, std::string_view hash_part, std::string text) {
    buffer(narinfo_key(url, hash_part), Entry{{CachedNarinfo::Kind::present, std::move(text)}, now()});
}

void NarinfoDiskCache::store_absent(const std::string& url, std::string_view hash_part) {
    buffer(narinfo_key(url, hash_part), Entry{{CachedNarinfo::Kind::absent, {}}, now()});
}

bool NarinfoDiskCache::wants_flush() {
    if (pending() < kFlushBatch) return false;
    bool expected = false;
    return flush_wanted_.compare_exchange_strong(expected, true);
}

size_t NarinfoDiskCache::pending() const {
    std::lock_guard lock(buffer_mutex_);
    return pending_.size();
}

void NarinfoDiskCache::flush() {
    std::lock_guard writing(writer_mutex_);
    flush_wanted_ = false;
    {
        std::lock_guard lock(buffer_mutex_);
        if (pending_.empty()) return;
        std::swap(pending_, writing_);
    }
    struct ClearWriting {
        NarinfoDiskCache& c;
        ~ClearWriting() {
            std::lock_guard lock(c.buffer_mutex_);
            c.writing_ = Batch();
        }
    } clear{*this};
    if (!writer_) writer_ = std::make_unique<Writer>(file_);
    writer_->write(writing_, options_, now());
    snapshot_stale_ = true;
}

} // namespace ferry
