#include "ferry/store/leftovers.hh"

#include <fcntl.h>
#include <sys/file.h>

#include "ferry/store/gc.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/store/store_graph.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

/// Whether no process holds the lock file `file` (locking it for an instant, deleting nothing).
bool unheld(const fs::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return false; // gone meanwhile: released by its owner
    return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;
}

} // namespace

std::vector<Leftover> find_stale_files(const StoreConfig& config) {
    std::vector<Leftover> found;
    std::error_code ec;
    if (fs::is_directory(config.staging_dir(), ec))
        for (auto& stale : find_stale_staging(config.staging_dir())) {
            if (!stale.scratch.empty())
                found.push_back(
                    {stale.scratch,
                     fmt::format("leftover build directory '{}' of process {} that no longer runs",
                                 stale.scratch.string(), stale.pid),
                     true});
            found.push_back({stale.entry,
                             fmt::format("leftover '{}' of process {} that no longer runs",
                                         stale.entry.string(), stale.pid),
                             true});
        }
    if (fs::is_directory(config.locks_dir(), ec))
        for (const auto& e : fs::directory_iterator(config.locks_dir()))
            if (unheld(e.path()))
                found.push_back(
                    {e.path(),
                     fmt::format("leftover lock file '{}' that no process holds", e.path().string()), true});
    return found;
}

std::vector<Leftover> find_invalid_entries(LocalStore& store, const StoreGraph& g) {
    const auto& config = store.config();
    std::vector<Leftover> found;
    for (const auto& e : fs::directory_iterator(config.real_store_dir())) {
        std::string name = e.path().filename().string();
        if (name == kTrashDirName) {
            found.push_back({e.path(), fmt::format("leftover trash '{}' of an interrupted garbage collection",
                                                   e.path().string())});
            continue;
        }
        if (name.starts_with(".")) continue; // the staging area
        auto path = store.store_dir().try_parse(store.store_dir().dir() + "/" + name);
        if (!path) continue; // not a store path: not ours (the collector leaves it too)
        if (g.find(*path)) continue;
        // A process making it valid holds its lock file; one that did so since the graph was read shows
        // in the database.
        if (fs::exists(fs::symlink_status(config.locks_dir() / (name + ".lock")))) continue;
        if (store.is_valid_path(*path)) continue;
        found.push_back({e.path(), fmt::format("'{}' is in the store directory, but not a valid path",
                                               e.path().string())});
    }
    return found;
}

void remove_leftover(LocalStore& store, const Leftover& leftover) {
    const auto& config = store.config();
    std::string name = leftover.file.filename().string();
    if (leftover.file.parent_path() != config.real_store_dir())
        throw Error("'{}' is not an entry of the store directory", leftover.file.string());
    if (name == kTrashDirName) {
        GcLock lock = GcLock::exclusive(config); // no collection is using it
        delete_path(leftover.file);
        return;
    }
    auto path = store.store_dir().try_parse(store.store_dir().dir() + "/" + name);
    if (!path) throw Error("'{}' is not a store path", leftover.file.string());
    auto lock = store.try_lock_path(*path);
    if (!lock || store.is_valid_path(*path)) return; // someone is making it valid
    delete_path(leftover.file);
}

} // namespace ferry
