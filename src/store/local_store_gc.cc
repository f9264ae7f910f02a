// LocalStore: what the garbage collector and verify need of the database: the whole graph in one read
// transaction, and invalidating paths in one write transaction.
#include "ferry/store/gc_roots.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/store_db.hh"
#include "ferry/store/store_graph.hh"
#include "ferry/util/finally.hh"

namespace ferry {

std::optional<uint32_t> StoreGraph::find(const StorePath& path) const {
    auto it = index_.find(&path.to_string());
    if (it == index_.end()) return std::nullopt;
    return it->second;
}

void StoreGraph::index_paths() {
    index_.clear();
    index_.reserve(paths.size());
    for (uint32_t i = 0; i < paths.size(); ++i)
        index_.emplace(&paths[i].to_string(), i);
}

namespace {

/// Rows of Refs (referrer, reference) as indices, in CSR form; references to unknown ids are dangling.
void load_references(Database& db, const std::unordered_map<int64_t, uint32_t>& by_id, StoreGraph& g) {
    std::vector<std::pair<uint32_t, uint32_t>> edges;
    auto stmt = db.prepare("select referrer, reference from Refs");
    auto q = stmt.use();
    while (q.next()) {
        auto from = by_id.find(q.get_int(0));
        if (from == by_id.end()) continue; // cascaded away with its referrer
        auto to = by_id.find(q.get_int(1));
        if (to == by_id.end()) {
            g.dangling.emplace_back(from->second, q.get_int(1));
            continue;
        }
        edges.emplace_back(from->second, to->second);
    }
    g.ref_begin.assign(g.size() + 1, 0);
    for (const auto& [from, _] : edges)
        ++g.ref_begin[from + 1];
    for (size_t i = 0; i < g.size(); ++i)
        g.ref_begin[i + 1] += g.ref_begin[i];
    g.refs.resize(edges.size());
    std::vector<uint32_t> fill(g.ref_begin.begin(), g.ref_begin.end() - 1);
    for (const auto& [from, to] : edges)
        g.refs[fill[from]++] = to;
}

} // namespace

StoreGraph LocalStore::load_graph() {
    return with_db([&](StoreDb& sdb) {
        auto& db = sdb.db();
        Transaction txn(db);
        StoreGraph g;
        std::unordered_map<int64_t, uint32_t> by_id;
        std::vector<std::pair<uint32_t, std::string>> derivers;
        {
            auto stmt = db.prepare("select id, path, hash, narSize, deriver from ValidPaths");
            auto q = stmt.use();
            while (q.next()) {
                auto index = uint32_t(g.paths.size());
                by_id.emplace(q.get_int(0), index);
                g.ids.push_back(q.get_int(0));
                g.paths.push_back(store_dir_.parse(q.get_text(1)));
                g.nar_hash.push_back(q.get_text(2));
                g.nar_size.push_back(q.is_null(3) ? 0 : uint64_t(q.get_int(3)));
                if (!q.is_null(4)) derivers.emplace_back(index, q.get_text(4));
            }
        }
        g.index_paths();
        g.deriver.assign(g.size(), -1);
        for (const auto& [index, printed] : derivers)
            if (auto p = store_dir_.try_parse(printed))
                if (auto d = g.find(*p)) g.deriver[index] = *d;
        load_references(db, by_id, g);
        auto stmt = db.prepare("select drv, path from DerivationOutputs");
        auto q = stmt.use();
        while (q.next()) {
            auto drv = by_id.find(q.get_int(0));
            auto out = store_dir_.try_parse(q.get_text(1));
            if (drv == by_id.end() || !out) continue;
            if (auto o = g.find(*out)) g.drv_outputs.emplace_back(drv->second, *o);
        }
        return g;
    });
}

void LocalStore::invalidate_paths(const std::vector<StorePath>& order, bool check_referrers) {
    if (order.empty()) return;
    with_db([&](StoreDb& db) {
        Transaction txn(db.db(), Transaction::Mode::immediate);
        StorePathSet going(order.begin(), order.end());
        for (const auto& p : order) {
            auto id = db.path_id(p);
            if (!id) continue;
            // Without the check, the schema's foreign key still refuses (and rolls everything back).
            if (check_referrers)
                for (const auto& r : db.query_referrers(*id))
                    if (r != p && !going.contains(r))
                        throw Error("cannot delete path '{}' because it is in use by '{}'", print(p),
                                    print(r));
            db.delete_path(*id);
            going.erase(p);
        }
        txn.commit();
    });
}

void LocalStore::invalidate_ids(const std::vector<int64_t>& ids) {
    if (ids.empty()) return;
    with_db([&](StoreDb& sdb) {
        auto& db = sdb.db();
        // The schema's foreign keys act row by row (a sub-program per deleted path); here the referrers
        // are checked once for the whole set and the rows go in three set-wise deletes. The pragma only
        // takes effect outside a transaction, so it goes around it.
        db.exec("pragma foreign_keys = off");
        Finally restore([&db] {
            try {
                db.exec("pragma foreign_keys = on");
            } catch (...) {
            }
        });
        Transaction txn(db, Transaction::Mode::immediate);
        db.exec("create temp table if not exists GcGoing (id integer primary key not null)");
        db.exec("delete from GcGoing");
        {
            auto insert = db.prepare("insert or ignore into GcGoing (id) values (?)");
            for (auto id : ids) {
                auto q = insert.use();
                q.bind(id);
                q.run();
            }
        }
        auto used = db.prepare("select (select path from ValidPaths where id = r.reference), "
                               "(select path from ValidPaths where id = r.referrer) "
                               "from GcGoing g join Refs r on r.reference = g.id "
                               "where r.referrer not in (select id from GcGoing) limit 1");
        if (auto q = used.use(); q.next())
            throw Error("cannot delete path '{}' because it is in use by '{}'", q.get_text(0), q.get_text(1));
        db.exec("delete from Refs where referrer in (select id from GcGoing)");
        db.exec("delete from DerivationOutputs where drv in (select id from GcGoing)");
        db.exec("delete from ValidPaths where id in (select id from GcGoing)");
        db.exec("delete from GcGoing");
        txn.commit();
    });
}

void LocalStore::add_temp_roots(const StorePathSet& paths) {
    ferry::add_temp_roots(config_, store_dir_, paths);
}

} // namespace ferry
