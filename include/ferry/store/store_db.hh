#pragma once
/// The SQL side of the local store: the schema (close to Nix's ValidPaths / Refs / DerivationOutputs),
/// its versioning, and row-level reads and writes. Paths are stored printed in full, as Nix does.
///
/// Threading: not synchronised; one thread at a time (LocalStore serialises with a mutex). Callers
/// group calls in Transactions on db().

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "ferry/store/path_info.hh"
#include "ferry/store/sqlite.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

/// The schema version this code writes. Opening a database of a newer version fails; older versions
/// are migrated step by step on open.
inline constexpr int64_t kStoreSchemaVersion = 1;

class StoreDb {
public:
    /// Opens or creates the database at `file` (its directory must exist): WAL, a busy timeout, foreign
    /// keys, then creates or migrates the schema in one transaction. `durable` selects synchronous=FULL.
    StoreDb(const std::filesystem::path& file, StoreDir dir, bool durable);

    Database& db() noexcept { return db_; }
    const StoreDir& store_dir() const noexcept { return dir_; }

    /// The row id of a valid path.
    std::optional<int64_t> path_id(const StorePath& path);
    /// Everything about a valid path, references included.
    std::optional<ValidPathInfo> query_info(const StorePath& path);
    StorePathSet query_references(int64_t id);
    /// Valid paths that refer to `id` (a self-reference included).
    StorePathSet query_referrers(int64_t id);
    /// The valid path whose hash part is `hash_part`.
    std::optional<StorePath> query_by_hash_part(std::string_view hash_part);

    /// Inserts a path (registration_time must be set) and returns its id. When the path is already
    /// valid its hash, size, deriver, ultimate, signatures and ca are updated instead.
    int64_t upsert_path(const ValidPathInfo& info);
    /// Records `referrer` → `reference`; does nothing when it is recorded already.
    void add_reference(int64_t referrer, int64_t reference);
    void set_signatures(int64_t id, const std::set<std::string>& signatures);
    /// Deletes a valid path's row (its references and recorded outputs go with it). The foreign key
    /// refuses while another path refers to it.
    void delete_path(int64_t id);

    void set_derivation_output(int64_t drv_id, std::string_view output, const StorePath& path);
    std::map<std::string, StorePath> derivation_outputs(int64_t drv_id);

    /// The schema version recorded in the database.
    int64_t schema_version();

private:
    void init_schema();
    StorePath parse_path(const std::string& printed) const;
    /// The paths in the first column of `statement`'s rows for `id`.
    StorePathSet paths_for(Statement& statement, int64_t id);

    Database db_;
    StoreDir dir_;
    Statement query_id_, query_info_, query_refs_, query_referrers_, query_hash_part_;
    Statement insert_path_, update_path_, insert_ref_, update_sigs_;
    Statement insert_drv_output_, query_drv_outputs_, delete_path_;
};

} // namespace ferry
