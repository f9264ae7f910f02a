#include "ferry/store/local_store.hh"

#include <sys/stat.h>

#include <ctime>
#include <functional>

#include "ferry/store/store_db.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;

namespace ferry {

LocalStore::LocalStore(StoreConfig config)
    : config_(std::move(config)), store_dir_(config_.store_dir), real_store_dir_(config_.real_store_dir()) {
    with_context("opening the store at '" + config_.effective_root().string() + "'", [&] {
        make_directories(real_store_dir_);
        make_directories(config_.staging_dir());
        make_directories(config_.db_file().parent_path());
        make_directories(config_.locks_dir());
        db_ = std::make_unique<StoreDb>(config_.db_file(), store_dir_, config_.durable);
        clean_stale_staging(config_.staging_dir());
        // A path's lock file outlives only a process killed while holding it; that process may have
        // moved the path's files into the store without registering them: they go, under the lock.
        clean_lock_files(config_.locks_dir(), [this](const std::string& name) {
            std::optional<StorePath> path;
            try {
                path = store_dir_.parse(store_dir_.dir() + "/" + name);
            } catch (const Error&) {
                return; // not a path's lock
            }
            if (!is_valid_path(*path)) delete_path(real_path(*path));
        });
    });
}

LocalStore::~LocalStore() = default;

fs::path LocalStore::real_path(const StorePath& path) const {
    return real_store_dir_ / path.to_string();
}

fs::path LocalStore::lock_file(const StorePath& path) const {
    return config_.locks_dir() / (path.to_string() + ".lock");
}

// --- Queries -------------------------------------------------------------------------------------

bool LocalStore::is_valid_path(const StorePath& path) {
    return with_db([&](StoreDb& db) { return db.path_id(path).has_value(); });
}

std::optional<ValidPathInfo> LocalStore::query_path_info(const StorePath& path) {
    return with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        return db.query_info(path);
    });
}

ValidPathInfo LocalStore::require_path_info(const StorePath& path) {
    auto info = query_path_info(path);
    if (!info) throw InvalidPath("path '{}' is not valid", print(path));
    return std::move(*info);
}

std::optional<StorePath> LocalStore::query_path_from_hash_part(std::string_view hash_part) {
    return with_db([&](StoreDb& db) { return db.query_by_hash_part(hash_part); });
}

StorePathSet LocalStore::query_referrers(const StorePath& path) {
    return with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        auto id = db.path_id(path);
        if (!id) throw InvalidPath("path '{}' is not valid", print(path));
        return db.query_referrers(*id);
    });
}

StorePathSet LocalStore::query_valid_paths(const StorePathSet& paths) {
    return with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        StorePathSet valid;
        for (const auto& p : paths)
            if (db.path_id(p)) valid.insert(p);
        return valid;
    });
}

StorePathSet LocalStore::compute_closure(const StorePathSet& paths) {
    return with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        StorePathSet closure;
        std::vector<StorePath> todo(paths.begin(), paths.end());
        while (!todo.empty()) {
            StorePath p = std::move(todo.back());
            todo.pop_back();
            if (closure.contains(p)) continue;
            auto id = db.path_id(p);
            if (!id) throw InvalidPath("path '{}' is not valid", print(p));
            for (auto& ref : db.query_references(*id))
                if (!closure.contains(ref)) todo.push_back(ref);
            closure.insert(std::move(p));
        }
        return closure;
    });
}

std::vector<StorePath> LocalStore::topo_sort(const StorePathSet& paths) {
    // References within the set, read in one transaction.
    std::map<StorePath, StorePathSet> refs = with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        std::map<StorePath, StorePathSet> out;
        for (const auto& p : paths) {
            auto id = db.path_id(p);
            if (!id) throw InvalidPath("path '{}' is not valid", print(p));
            StorePathSet inside;
            for (auto& r : db.query_references(*id))
                if (r != p && paths.contains(r)) inside.insert(std::move(r));
            out.emplace(p, std::move(inside));
        }
        return out;
    });

    enum class Mark { none, visiting, done };
    std::map<StorePath, Mark> marks;
    std::vector<StorePath> order;
    order.reserve(paths.size());
    std::function<void(const StorePath&, const StorePath*)> visit = [&](const StorePath& p,
                                                                        const StorePath* from) {
        Mark& m = marks[p];
        if (m == Mark::done) return;
        if (m == Mark::visiting)
            throw Error("cycle in the references of the store: '{}' and '{}' refer to each other",
                        print(*from), print(p));
        m = Mark::visiting;
        for (const auto& r : refs.at(p))
            visit(r, &p);
        marks[p] = Mark::done;
        order.push_back(p);
    };
    for (const auto& p : paths)
        visit(p, nullptr);
    return order;
}

std::map<std::string, StorePath> LocalStore::query_derivation_outputs(const StorePath& drv) {
    return with_db([&](StoreDb& db) {
        Transaction txn(db.db());
        auto id = db.path_id(drv);
        if (!id) throw InvalidPath("derivation '{}' is not valid", print(drv));
        return db.derivation_outputs(*id);
    });
}

// --- Registration --------------------------------------------------------------------------------

void LocalStore::check_registrable(const std::vector<ValidPathInfo>& infos) {
    for (const auto& info : infos) {
        if (info.nar_hash.algo != HashAlgo::sha256)
            throw Error("cannot register '{}': its NAR hash must be sha256, not {}", print(info.path),
                        to_string(info.nar_hash.algo));
        struct stat st;
        fs::path real = real_path(info.path);
        if (::lstat(real.c_str(), &st) != 0)
            throw SysError("cannot register '" + print(info.path) + "': its files at '" + real.string() +
                           "' are missing");
    }
}

void LocalStore::register_valid_paths(const std::vector<ValidPathInfo>& infos) {
    if (infos.empty()) return;
    check_registrable(infos);
    if (config_.durable) sync_store_files();
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    with_db([&](StoreDb& db) {
        Transaction txn(db.db(), Transaction::Mode::immediate);
        StorePathSet batch;
        for (const auto& info : infos)
            batch.insert(info.path);
        for (const auto& info : infos)
            for (const auto& ref : info.references)
                if (!batch.contains(ref) && !db.path_id(ref))
                    throw InvalidPath("cannot register '{}': its reference '{}' is not valid",
                                      print(info.path), print(ref));
        std::map<StorePath, int64_t> ids;
        for (const auto& info : infos) {
            ValidPathInfo row = info;
            if (row.registration_time == 0) row.registration_time = now;
            ids[info.path] = db.upsert_path(row);
        }
        for (const auto& info : infos)
            for (const auto& ref : info.references) {
                auto it = ids.find(ref);
                db.add_reference(ids.at(info.path), it != ids.end() ? it->second : *db.path_id(ref));
            }
        txn.commit();
    });
}

void LocalStore::register_derivation_outputs(const StorePath& drv,
                                             const std::map<std::string, StorePath>& outputs) {
    with_db([&](StoreDb& db) {
        Transaction txn(db.db(), Transaction::Mode::immediate);
        auto id = db.path_id(drv);
        if (!id) throw InvalidPath("cannot record the outputs of '{}': it is not valid", print(drv));
        for (const auto& [name, path] : outputs)
            db.set_derivation_output(*id, name, path);
        txn.commit();
    });
}

void LocalStore::add_signatures(const StorePath& path, const std::set<std::string>& signatures) {
    with_db([&](StoreDb& db) {
        Transaction txn(db.db(), Transaction::Mode::immediate);
        auto info = db.query_info(path);
        if (!info) throw InvalidPath("cannot add signatures to '{}': it is not valid", print(path));
        info->signatures.insert(signatures.begin(), signatures.end());
        db.set_signatures(*db.path_id(path), info->signatures);
        txn.commit();
    });
}

} // namespace ferry
