#include "ferry/store/gc_roots.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <unordered_set>

#include "ferry/util/error.hh"
#include "ferry/util/events.hh"
#include "ferry/util/hash.hh"

namespace fs = std::filesystem;

namespace ferry {

fs::path gc_roots_dir(const StoreConfig& config) {
    return config.state_dir() / "gcroots";
}

fs::path temp_roots_dir(const StoreConfig& config) {
    return config.state_dir() / "temproots";
}

fs::path gc_lock_file(const StoreConfig& config) {
    return config.state_dir() / "gc.lock";
}

namespace {

UniqueFd open_gc_lock(const StoreConfig& config) {
    make_directories(config.state_dir());
    auto file = gc_lock_file(config);
    UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw SysError("opening the garbage collector lock '" + file.string() + "'");
    return fd;
}

void flock_retrying(int fd, int op, const fs::path& file) {
    while (::flock(fd, op) != 0)
        if (errno != EINTR) throw SysError("locking '" + file.string() + "'");
}

/// This process's temporary roots in one store: its file, held locked, and what it holds.
struct TempRootsFile {
    /// Deleted at exit, as Nix does (a file left by a killed process is deleted by the next collection).
    /// Only by the process that made it: a forked child that exits normally must not take it away.
    ~TempRootsFile() {
        if (fd && owner == ::getpid()) ::unlink(path.c_str());
    }
    pid_t owner = 0;
    std::mutex mutex;
    fs::path path;
    UniqueFd fd;
    UniqueFd gc_lock;
    std::unordered_set<std::string> added;
};

/// One file per store (state directory) and process, however many LocalStores the process opens.
TempRootsFile& temp_roots_file(const fs::path& state_dir) {
    static std::mutex registry_mutex;
    static std::map<fs::path, std::unique_ptr<TempRootsFile>> registry;
    std::lock_guard lock(registry_mutex);
    auto& slot = registry[state_dir];
    if (!slot) slot = std::make_unique<TempRootsFile>();
    return *slot;
}

/// Creates and locks <temproots>/<pid>. A collection may delete a file it finds unlocked between our
/// open() and flock(): then the locked file has no name any more, and we start again.
UniqueFd create_temp_roots_file(const StoreConfig& config) {
    auto dir = temp_roots_dir(config);
    make_directories(dir);
    auto file = dir / std::to_string(::getpid());
    for (;;) {
        // A file with our pid is a dead process's: pids are not reused while a process lives.
        if (::unlink(file.c_str()) != 0 && errno != ENOENT)
            throw SysError("removing stale temporary roots file '" + file.string() + "'");
        UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0600));
        if (!fd) {
            if (errno == EEXIST) continue;
            throw SysError("creating temporary roots file '" + file.string() + "'");
        }
        flock_retrying(fd.get(), LOCK_EX, file);
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) throw SysError("getting status of '" + file.string() + "'");
        if (st.st_nlink > 0) return fd;
    }
}

} // namespace

GcLock GcLock::exclusive(const StoreConfig& config) {
    auto fd = open_gc_lock(config);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) throw SysError("locking the garbage collector lock");
        log_at(Level::error, "waiting for the big garbage collector lock...");
        flock_retrying(fd.get(), LOCK_EX, gc_lock_file(config));
    }
    return GcLock(std::move(fd));
}

GcLock GcLock::shared(const StoreConfig& config) {
    auto fd = open_gc_lock(config);
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) throw SysError("locking the garbage collector lock");
        log_at(Level::error, "waiting for the big garbage collector lock...");
        flock_retrying(fd.get(), LOCK_SH, gc_lock_file(config));
    }
    return GcLock(std::move(fd));
}

void add_temp_roots(const StoreConfig& config, const StoreDir& dir, const StorePathSet& paths) {
    if (paths.empty()) return;
    auto& roots = temp_roots_file(config.state_dir());
    std::lock_guard lock(roots.mutex);
    std::string text;
    std::vector<std::string> fresh;
    for (const auto& p : paths) {
        std::string printed = dir.print(p);
        if (roots.added.contains(printed)) continue;
        text += printed;
        text += '\0';
        fresh.push_back(std::move(printed));
    }
    if (fresh.empty()) return;
    if (!roots.fd) {
        roots.fd = create_temp_roots_file(config);
        roots.owner = ::getpid();
        roots.path = temp_roots_dir(config) / std::to_string(roots.owner);
    }
    if (!roots.gc_lock) roots.gc_lock = open_gc_lock(config);
    auto lock_file = gc_lock_file(config);
    // Shared: appends of several processes go together; a collection (exclusive) waits for them, and
    // they wait for it.
    flock_retrying(roots.gc_lock.get(), LOCK_SH, lock_file);
    try {
        write_full(roots.fd.get(), text, "the temporary roots file");
    } catch (...) {
        ::flock(roots.gc_lock.get(), LOCK_UN);
        throw;
    }
    ::flock(roots.gc_lock.get(), LOCK_UN);
    for (auto& p : fresh)
        roots.added.insert(std::move(p));
}

namespace {

std::optional<StorePath> store_path_of(const StoreConfig& config, const StoreDir& dir,
                                       const fs::path& target) {
    std::string t = target.lexically_normal().string();
    if (dir.is_in_store(t)) return dir.to_store_path(t);
    // A link to the physical copy of a path (a store that is not at its logical place).
    auto rel = target.lexically_normal().lexically_relative(config.real_store_dir());
    if (rel.empty() || *rel.begin() == "." || *rel.begin() == "..") return std::nullopt;
    return dir.try_parse(dir.dir() + "/" + rel.begin()->string());
}

void found_link(const StoreConfig& config, const StoreDir& dir, const fs::path& link,
                const fs::path& auto_dir, Roots& roots) {
    std::error_code ec;
    fs::path target = fs::read_symlink(link, ec);
    if (ec) return;
    if (target.is_relative()) target = link.parent_path() / target;
    if (auto p = store_path_of(config, dir, target)) {
        roots[*p].insert(link.string());
        return;
    }
    // An indirect root: a link to a link (such as ./result) that points into the store.
    auto st = fs::symlink_status(target, ec);
    if (ec || !fs::exists(st)) {
        if (link.parent_path() == auto_dir) {
            log_at(Level::info, "removing stale link from '{}' to '{}'", link.string(), target.string());
            fs::remove(link, ec);
        }
        return;
    }
    if (!fs::is_symlink(st)) return;
    fs::path target2 = fs::read_symlink(target, ec);
    if (ec) return;
    if (target2.is_relative()) target2 = target.parent_path() / target2;
    if (auto p = store_path_of(config, dir, target2)) roots[*p].insert(target.string());
}

} // namespace

Roots find_permanent_roots(const StoreConfig& config, const StoreDir& dir) {
    Roots roots;
    auto top = gc_roots_dir(config);
    auto auto_dir = top / "auto";
    std::error_code ec;
    if (!fs::is_directory(top, ec)) return roots;
    // Directories are followed, symlinked ones too (as Nix's readDirectory + stat), without loops.
    auto options = fs::directory_options::skip_permission_denied;
    for (auto it = fs::recursive_directory_iterator(top, options, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        auto st = it->symlink_status(ec);
        if (ec) {
            ec.clear();
            continue;
        }
        if (fs::is_symlink(st)) found_link(config, dir, it->path(), auto_dir, roots);
    }
    if (ec) throw SysError("reading the garbage collector roots under '" + top.string() + "'");
    return roots;
}

Roots find_temp_roots(const StoreConfig& config, const StoreDir& dir) {
    Roots roots;
    auto top = temp_roots_dir(config);
    std::error_code ec;
    if (!fs::is_directory(top, ec)) return roots;
    std::string self = std::to_string(::getpid());
    for (const auto& entry : fs::directory_iterator(top)) {
        std::string name = entry.path().filename().string();
        if (name.starts_with(".")) continue;
        UniqueFd fd(::open(entry.path().c_str(), O_RDWR | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) continue;
            throw SysError("opening temporary roots file '" + entry.path().string() + "'");
        }
        // Our own file is live whatever the lock says; another one that we can lock is a dead process's.
        if (name != self && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            log_at(Level::info, "removing stale temporary roots file '{}'", entry.path().string());
            ::unlink(entry.path().c_str());
            continue;
        }
        std::string contents = read_file(entry.path());
        size_t pos = 0, end;
        while ((end = contents.find('\0', pos)) != std::string::npos) {
            if (auto p = dir.try_parse(std::string_view(contents).substr(pos, end - pos)))
                roots[*p].insert("{temp:" + name + "}");
            pos = end + 1;
        }
    }
    return roots;
}

void add_indirect_root(const StoreConfig& config, const fs::path& link) {
    std::string absolute = fs::absolute(link).lexically_normal().string();
    std::string hash = hash_string(HashAlgo::sha1, absolute).to_string(HashFormat::nix32, false);
    auto auto_dir = gc_roots_dir(config) / "auto";
    make_directories(auto_dir);
    fs::path root = auto_dir / hash;
    fs::path tmp = root.string() + ".tmp-" + std::to_string(::getpid());
    fs::remove(tmp);
    fs::create_symlink(absolute, tmp);
    fs::rename(tmp, root);
}

} // namespace ferry
