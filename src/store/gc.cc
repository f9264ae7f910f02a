#include "ferry/store/gc.hh"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ferry/store/store_graph.hh"
#include "ferry/util/events.hh"
#include "gc_trash.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

/// What marking needs beyond the graph: the recorded outputs of each derivation.
std::vector<std::vector<uint32_t>> outputs_by_drv(const StoreGraph& g) {
    std::vector<std::vector<uint32_t>> out(g.size());
    for (const auto& [drv, output] : g.drv_outputs)
        out[drv].push_back(output);
    return out;
}

/// Marks everything the roots reach.
std::vector<char> mark(const StoreGraph& g, const std::vector<uint32_t>& roots, const GcOptions& o) {
    std::vector<char> alive(g.size(), 0);
    auto outputs = o.keep_outputs ? outputs_by_drv(g) : std::vector<std::vector<uint32_t>>{};
    std::vector<uint32_t> todo;
    auto push = [&](uint32_t i) {
        if (!alive[i]) {
            alive[i] = 1;
            todo.push_back(i);
        }
    };
    for (auto r : roots)
        push(r);
    while (!todo.empty()) {
        uint32_t i = todo.back();
        todo.pop_back();
        for (uint32_t k = g.ref_begin[i]; k < g.ref_begin[i + 1]; ++k)
            push(g.refs[k]);
        if (o.keep_derivations && g.deriver[i] >= 0) push(uint32_t(g.deriver[i]));
        if (o.keep_outputs)
            for (auto out : outputs[i])
                push(out);
    }
    return alive;
}

/// The paths of `chosen` ordered referrers first (Kahn's algorithm on the references among them).
std::vector<uint32_t> referrers_first(const StoreGraph& g, const std::vector<char>& chosen) {
    std::vector<uint32_t> referrers(g.size(), 0);
    for (uint32_t i = 0; i < g.size(); ++i)
        if (chosen[i])
            for (uint32_t k = g.ref_begin[i]; k < g.ref_begin[i + 1]; ++k)
                if (g.refs[k] != i && chosen[g.refs[k]]) ++referrers[g.refs[k]];
    std::vector<uint32_t> order, ready;
    for (uint32_t i = 0; i < g.size(); ++i)
        if (chosen[i] && referrers[i] == 0) ready.push_back(i);
    while (!ready.empty()) {
        uint32_t i = ready.back();
        ready.pop_back();
        order.push_back(i);
        for (uint32_t k = g.ref_begin[i]; k < g.ref_begin[i + 1]; ++k) {
            uint32_t r = g.refs[k];
            if (r != i && chosen[r] && --referrers[r] == 0) ready.push_back(r);
        }
    }
    return order; // a cycle (impossible in a sound store) leaves its paths out: they are never deleted
}

class Collector {
public:
    Collector(LocalStore& store, const GcOptions& options)
        : store_(store), options_(options), store_dir_(store.config().real_store_dir()),
          trash_(store_dir_ / kTrashDirName) {}

    GcResults run();

private:
    std::vector<uint32_t> root_indices();
    void list(bool live);
    void delete_specific();
    void delete_dead();
    /// Invalidates `batch` in one transaction, then deletes its files; false once max_freed is passed.
    bool delete_batch(const std::vector<uint32_t>& batch);
    void delete_invalid_entries();

    LocalStore& store_;
    const GcOptions& options_;
    fs::path store_dir_, trash_;
    std::optional<GcTrash> trash_files_;
    Roots temp_roots_;
    StoreGraph graph_;
    std::vector<char> alive_;
    GcResults results_;
};

GcResults Collector::run() {
    GcLock lock = GcLock::exclusive(store_.config());
    bool deleting = options_.action == GcOptions::Action::delete_dead ||
                    options_.action == GcOptions::Action::delete_specific;
    if (deleting && !options_.dry_run) {
        // What a killed collection left in the trash is invalid already.
        delete_path(trash_);
        make_directories(trash_);
        trash_files_.emplace(store_dir_, trash_);
    }
    auto t = Clock::now();
    log_at(Level::talkative, "finding garbage collector roots...");
    auto roots = root_indices();
    results_.timings.roots_ms = ms_since(t);
    t = Clock::now();
    alive_ = mark(graph_, roots, options_);
    results_.timings.mark_ms = ms_since(t);
    t = Clock::now();
    switch (options_.action) {
    case GcOptions::Action::return_live:
        list(true);
        break;
    case GcOptions::Action::return_dead:
        list(false);
        break;
    case GcOptions::Action::delete_specific:
        delete_specific();
        break;
    case GcOptions::Action::delete_dead:
        delete_dead();
        break;
    }
    if (deleting && !options_.dry_run) delete_path(trash_); // empty by now; a killed run leaves it
    results_.timings.delete_ms = ms_since(t);
    return std::move(results_);
}

std::vector<uint32_t> Collector::root_indices() {
    const auto& config = store_.config();
    auto permanent = find_permanent_roots(config, store_.store_dir());
    temp_roots_ = find_temp_roots(config, store_.store_dir());
    auto t = Clock::now();
    graph_ = store_.load_graph();
    results_.timings.load_ms = ms_since(t);
    std::vector<uint32_t> roots;
    for (const auto& [path, links] : permanent) {
        if (auto i = graph_.find(path))
            roots.push_back(*i);
        else
            for (const auto& link : links)
                log_at(Level::info, "skipping invalid root from '{}' to '{}'", link, store_.print(path));
    }
    for (const auto& [path, _] : temp_roots_)
        if (auto i = graph_.find(path)) roots.push_back(*i);
    return roots;
}

void Collector::list(bool live) {
    for (uint32_t i = 0; i < graph_.size(); ++i)
        if (bool(alive_[i]) == live) results_.paths.push_back(store_.print(graph_.paths[i]));
    std::sort(results_.paths.begin(), results_.paths.end());
}

void Collector::delete_specific() {
    std::vector<char> chosen(graph_.size(), 0);
    for (const auto& p : options_.paths_to_delete) {
        auto i = graph_.find(p);
        if (!i) throw InvalidPath("path '{}' is not valid", store_.print(p));
        if (alive_[*i])
            throw Error(
                "Cannot delete path '{}' since it is still alive. To find out why, use: ferry store gc "
                "--print-roots",
                store_.print(p));
        chosen[*i] = 1;
    }
    for (uint32_t r = 0; r < graph_.size(); ++r)
        for (uint32_t k = graph_.ref_begin[r]; k < graph_.ref_begin[r + 1]; ++k)
            if (chosen[graph_.refs[k]] && !chosen[r])
                throw Error("cannot delete path '{}' because it is in use by '{}'",
                            store_.print(graph_.paths[graph_.refs[k]]), store_.print(graph_.paths[r]));
    delete_batch(referrers_first(graph_, chosen));
}

void Collector::delete_dead() {
    std::vector<char> dead(graph_.size());
    for (size_t i = 0; i < dead.size(); ++i)
        dead[i] = !alive_[i];
    if (options_.max_freed == 0) return; // as Nix: nothing to free
    auto order = referrers_first(graph_, dead);
    if (!options_.dry_run) log_at(Level::info, "deleting garbage...");
    // One transaction per batch; a limit on what is freed is checked after each.
    const size_t kBatch = options_.max_freed == std::numeric_limits<uint64_t>::max() ? 20000 : 1000;
    std::vector<uint32_t> batch;
    uint64_t estimate = 0; // what the batch frees, roughly
    for (size_t k = 0; k < order.size(); ++k) {
        batch.push_back(order[k]);
        // The NAR size is a little more than the file sizes that deleting frees.
        estimate += graph_.nar_size[order[k]];
        uint64_t room = options_.max_freed - std::min(options_.max_freed, results_.bytes_freed);
        bool last = k + 1 == order.size();
        if (batch.size() < kBatch && estimate <= room && !last) continue;
        if (!delete_batch(batch)) return;
        batch.clear();
        estimate = 0;
    }
    if (!options_.dry_run) delete_invalid_entries();
}

bool Collector::delete_batch(const std::vector<uint32_t>& batch) {
    if (options_.dry_run) {
        for (auto i : batch) {
            results_.paths.push_back(store_.print(graph_.paths[i]));
            results_.bytes_freed += graph_.nar_size[i];
        }
    } else {
        // Invalid first, then the files: a kill in between leaves files of invalid paths, never the
        // reverse.
        std::vector<int64_t> ids;
        for (auto i : batch)
            ids.push_back(graph_.ids[i]);
        auto t = Clock::now();
        store_.invalidate_ids(ids);
        results_.timings.invalidate_ms += ms_since(t);
        for (auto i : batch) {
            const auto& p = graph_.paths[i];
            log_at(Level::info, "deleting '{}'", store_.print(p));
            trash_files_->take(p.to_string());
            results_.paths.push_back(store_.print(p));
        }
        results_.bytes_freed += trash_files_->drain();
    }
    if (results_.bytes_freed > options_.max_freed) {
        log_at(Level::info, "deleted more than {} bytes; stopping", options_.max_freed);
        return false;
    }
    return true;
}

void Collector::delete_invalid_entries() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(store_dir_)) {
        std::string name = e.path().filename().string();
        if (!name.starts_with(".")) names.push_back(std::move(name));
    }
    for (const auto& name : names) {
        std::optional<StorePath> path;
        try {
            path.emplace(name);
        } catch (const Error&) {
            continue; // not a store path: not ours to delete
        }
        if (graph_.find(*path) || temp_roots_.contains(*path)) continue;
        // Files of an invalid path are being made valid while their lock is held.
        auto lock = store_.try_lock_path(*path);
        if (!lock || store_.is_valid_path(*path)) continue;
        log_at(Level::info, "deleting '{}'", store_.print(*path));
        trash_files_->take(name);
        ++results_.invalid_deleted;
    }
    results_.bytes_freed += trash_files_->drain();
}

} // namespace

GcResults collect_garbage(LocalStore& store, const GcOptions& options) {
    return Collector(store, options).run();
}

Roots find_roots(LocalStore& store) {
    const auto& config = store.config();
    Roots all = find_permanent_roots(config, store.store_dir());
    {
        GcLock lock = GcLock::exclusive(config); // no process half-way through an append
        for (auto& [path, links] : find_temp_roots(config, store.store_dir()))
            all[path].insert(links.begin(), links.end());
    }
    StorePathSet paths;
    for (const auto& [p, _] : all)
        paths.insert(p);
    auto valid = store.query_valid_paths(paths);
    std::erase_if(all, [&](const auto& entry) { return !valid.contains(entry.first); });
    return all;
}

} // namespace ferry
