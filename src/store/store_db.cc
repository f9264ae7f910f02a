#include "ferry/store/store_db.hh"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include <functional>
#include <vector>

namespace ferry {

namespace {

// Version 1. Close to Nix's schema.sql, so the data maps one to one: paths printed in full, the NAR
// hash as "sha256:<nix32>", signatures separated by spaces.
constexpr const char* kSchemaV1 = R"sql(
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
-- A self-reference must not keep its own path from being deleted.
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
begin
    delete from Refs where referrer = old.id and reference = old.id;
end;
create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
)sql";

// migrations[n] takes a database from version n + 1 to n + 2. None yet: version 1 is the first.
const std::vector<std::function<void(Database&)>> kMigrations = {};

std::string join_signatures(const std::set<std::string>& sigs) {
    std::string out;
    for (const auto& s : sigs) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

std::set<std::string> split_signatures(std::string_view text) {
    std::set<std::string> out;
    while (!text.empty()) {
        auto end = text.find(' ');
        if (end != 0) out.emplace(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return out;
}

} // namespace

StoreDb::StoreDb(const std::filesystem::path& file, StoreDir dir, bool durable)
    : db_(file), dir_(std::move(dir)) {
    db_.set_busy_timeout(std::chrono::minutes(1));
    db_.exec("pragma foreign_keys = on");
    // While another process creates the database or recovers its WAL, SQLite can answer SQLITE_BUSY at
    // once, without calling the busy handler; opening then retries for as long as the busy timeout.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    for (int attempt = 0;; ++attempt) {
        try {
            db_.exec("pragma journal_mode = wal");
            db_.exec(durable ? "pragma synchronous = full" : "pragma synchronous = normal");
            init_schema();
            break;
        } catch (const SqliteError& e) {
            if (e.code() != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100, 1 << std::min(attempt, 7))));
        }
    }

    query_id_ = db_.prepare("select id from ValidPaths where path = ?");
    query_info_ = db_.prepare("select id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca from "
                              "ValidPaths where path = ?");
    query_refs_ = db_.prepare("select path from Refs join ValidPaths on reference = id where referrer = ?");
    query_referrers_ =
        db_.prepare("select path from Refs join ValidPaths on referrer = id where reference = ?");
    query_hash_part_ = db_.prepare("select path from ValidPaths where path >= ? limit 1");
    insert_path_ = db_.prepare(
        "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)");
    update_path_ = db_.prepare("update ValidPaths set hash = ?, deriver = ?, narSize = ?, ultimate = ?, sigs "
                               "= ?, ca = ? where id = ?");
    insert_ref_ = db_.prepare("insert or ignore into Refs (referrer, reference) values (?, ?)");
    update_sigs_ = db_.prepare("update ValidPaths set sigs = ? where id = ?");
    insert_drv_output_ =
        db_.prepare("insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?)");
    query_drv_outputs_ = db_.prepare("select id, path from DerivationOutputs where drv = ?");
    delete_path_ = db_.prepare("delete from ValidPaths where id = ?");
}

void StoreDb::init_schema() {
    Transaction txn(db_, Transaction::Mode::immediate);
    db_.exec("create table if not exists SchemaVersion (version integer not null)");
    int64_t version = schema_version();
    if (version == 0) {
        db_.exec(kSchemaV1);
        db_.exec("insert into SchemaVersion (version) values (" + std::to_string(kStoreSchemaVersion) + ")");
    } else if (version > kStoreSchemaVersion) {
        throw Error(
            "store database '{}' has schema version {}, newer than the version {} this ferry supports",
            db_.path().string(), version, kStoreSchemaVersion);
    } else if (version < kStoreSchemaVersion) {
        for (; version < kStoreSchemaVersion; ++version)
            kMigrations.at(size_t(version - 1))(db_);
        db_.exec("update SchemaVersion set version = " + std::to_string(kStoreSchemaVersion));
    }
    txn.commit();
}

int64_t StoreDb::schema_version() {
    auto stmt = db_.prepare("select version from SchemaVersion");
    auto q = stmt.use();
    return q.next() ? q.get_int(0) : 0;
}

StorePath StoreDb::parse_path(const std::string& printed) const {
    return with_context("reading the store database", [&] { return dir_.parse(printed); });
}

std::optional<int64_t> StoreDb::path_id(const StorePath& path) {
    auto q = query_id_.use();
    q.bind(dir_.print(path));
    if (!q.next()) return std::nullopt;
    return q.get_int(0);
}

std::optional<ValidPathInfo> StoreDb::query_info(const StorePath& path) {
    std::string printed = dir_.print(path);
    auto q = query_info_.use();
    q.bind(printed);
    if (!q.next()) return std::nullopt;
    int64_t id = q.get_int(0);
    ValidPathInfo info(path);
    info.nar_hash = with_context("NAR hash of '" + printed + "' in the store database",
                                 [&] { return Hash::parse(q.get_text(1)); });
    info.registration_time = q.get_int(2);
    if (!q.is_null(3)) info.deriver = parse_path(q.get_text(3));
    info.nar_size = static_cast<uint64_t>(q.get_int(4));
    info.ultimate = q.get_int(5) != 0;
    if (!q.is_null(6)) info.signatures = split_signatures(q.get_text(6));
    if (!q.is_null(7)) info.ca = q.get_text(7);
    info.references = query_references(id);
    return info;
}

StorePathSet StoreDb::paths_for(Statement& statement, int64_t id) {
    StorePathSet out;
    auto q = statement.use();
    q.bind(id);
    while (q.next())
        out.insert(parse_path(q.get_text(0)));
    return out;
}

StorePathSet StoreDb::query_references(int64_t id) {
    return paths_for(query_refs_, id);
}

StorePathSet StoreDb::query_referrers(int64_t id) {
    return paths_for(query_referrers_, id);
}

std::optional<StorePath> StoreDb::query_by_hash_part(std::string_view hash_part) {
    std::string prefix = dir_.dir() + "/" + std::string(hash_part);
    auto q = query_hash_part_.use();
    q.bind(prefix);
    if (!q.next()) return std::nullopt;
    std::string found = q.get_text(0);
    if (!found.starts_with(prefix + "-")) return std::nullopt;
    return parse_path(found);
}

int64_t StoreDb::upsert_path(const ValidPathInfo& info) {
    std::optional<std::string> deriver;
    if (info.deriver) deriver = dir_.print(*info.deriver);
    auto sigs = join_signatures(info.signatures);
    if (auto id = path_id(info.path)) {
        auto q = update_path_.use();
        q.bind(info.nar_hash.to_nix32_prefixed()).bind(deriver).bind(int64_t(info.nar_size));
        q.bind(int64_t(info.ultimate ? 1 : 0)).bind(sigs).bind(info.ca).bind(*id);
        q.run();
        return *id;
    }
    auto q = insert_path_.use();
    q.bind(dir_.print(info.path)).bind(info.nar_hash.to_nix32_prefixed()).bind(info.registration_time);
    q.bind(deriver)
        .bind(int64_t(info.nar_size))
        .bind(int64_t(info.ultimate ? 1 : 0))
        .bind(sigs)
        .bind(info.ca);
    q.run();
    return db_.last_insert_rowid();
}

void StoreDb::add_reference(int64_t referrer, int64_t reference) {
    auto q = insert_ref_.use();
    q.bind(referrer).bind(reference);
    q.run();
}

void StoreDb::set_signatures(int64_t id, const std::set<std::string>& signatures) {
    auto q = update_sigs_.use();
    q.bind(join_signatures(signatures)).bind(id);
    q.run();
}

void StoreDb::delete_path(int64_t id) {
    auto q = delete_path_.use();
    q.bind(id);
    q.run();
}

void StoreDb::set_derivation_output(int64_t drv_id, std::string_view output, const StorePath& path) {
    auto q = insert_drv_output_.use();
    q.bind(drv_id).bind(output).bind(dir_.print(path));
    q.run();
}

std::map<std::string, StorePath> StoreDb::derivation_outputs(int64_t drv_id) {
    std::map<std::string, StorePath> out;
    auto q = query_drv_outputs_.use();
    q.bind(drv_id);
    while (q.next())
        out.emplace(q.get_text(0), parse_path(q.get_text(1)));
    return out;
}

} // namespace ferry
