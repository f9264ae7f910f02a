// Garbage collection on real stores in temporary directories: roots (links, indirect links, temporary
// roots of another process), exactly the garbage deleted, --max-freed, delete, keep-derivations and
// keep-outputs, and what a killed collection leaves.
#include "ferry/store/gc.hh"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/store/nar.hh"
#include "ferry/store/sqlite.hh"
#include "ferry/store/store_graph.hh"
#include "ferry/store/verify.hh"
#include "ferry/util/hash.hh"
#include "support/store_check.hh"
#include "support/store_gen.hh"
#include "support/store_support.hh"

namespace fs = std::filesystem;

namespace ferry {
namespace {

using test::TempStore;

struct GcTest : ::testing::Test {
    TempStore s;
    LocalStore& store = *s.store;

    /// A valid path (a small file) registered without making it a temporary root of this process.
    StorePath add(const std::string& name, StorePathSet refs = {}, std::optional<StorePath> deriver = {},
                  bool self_reference = false, size_t padding = 0) {
        auto digest = compress_hash(hash_string(HashAlgo::sha256, name), 20);
        StorePath path(digest, name);
        write_file_atomic(store.real_path(path), name + "\n" + std::string(padding, 'x'), 0444);
        ValidPathInfo info(path);
        auto nar = hash_path(HashAlgo::sha256, store.real_path(path));
        info.nar_hash = nar.hash;
        info.nar_size = nar.nar_size;
        info.references = std::move(refs);
        if (self_reference) info.references.insert(path);
        info.deriver = deriver;
        store.register_valid_paths({info});
        return path;
    }
    void root(const std::string& name, const StorePath& p) {
        make_directories(gc_roots_dir(s.config));
        fs::create_symlink(store.print(p), gc_roots_dir(s.config) / name);
    }
    std::vector<std::string> printed(std::vector<StorePath> paths) {
        std::vector<std::string> out;
        for (const auto& p : paths)
            out.push_back(store.print(p));
        std::sort(out.begin(), out.end());
        return out;
    }
    GcResults gc(GcOptions::Action action = GcOptions::Action::delete_dead) {
        GcOptions o;
        o.action = action;
        return collect_garbage(store, o);
    }
    void expect_sound() {
        EXPECT_TRUE(test::store_problems(s.config).empty());
        EXPECT_TRUE(verify_store(store, {.check_contents = true}).problems.empty());
    }
};

TEST_F(GcTest, DeletesExactlyTheGarbage) {
    auto c = add("c");
    auto b = add("b", {c});
    auto a = add("a", {b, c});
    auto d = add("d", {c});          // garbage that refers to a live path
    auto e = add("e", {});           // garbage
    auto f = add("f", {});           // kept by an indirect root (a link elsewhere, such as ./result)
    auto g = add("g", {}, {}, true); // garbage that refers to itself
    root("a-link", a);
    fs::path result = s.dir.path() / "result";
    fs::create_symlink(store.print(f), result);
    add_indirect_root(s.config, result);

    auto dead = gc(GcOptions::Action::return_dead);
    EXPECT_EQ(dead.paths, printed({d, e, g}));
    auto live = gc(GcOptions::Action::return_live);
    EXPECT_EQ(live.paths, printed({a, b, c, f}));
    EXPECT_TRUE(store.is_valid_path(d)); // listing deletes nothing

    auto r = gc();
    auto deleted = r.paths;
    std::sort(deleted.begin(), deleted.end());
    EXPECT_EQ(deleted, printed({d, e, g}));
    EXPECT_GT(r.bytes_freed, 0u);
    for (const auto& p : {d, e, g}) {
        EXPECT_FALSE(store.is_valid_path(p));
        EXPECT_FALSE(fs::exists(fs::symlink_status(store.real_path(p))));
    }
    for (const auto& p : {a, b, c, f})
        EXPECT_TRUE(store.is_valid_path(p));
    EXPECT_FALSE(fs::exists(store.config().real_store_dir() / kTrashDirName));
    expect_sound();

    // The indirect root goes when its link does: the auto link is removed as stale, f is garbage.
    fs::remove(result);
    EXPECT_EQ(gc().paths, printed({f}));
    EXPECT_TRUE(fs::is_empty(gc_roots_dir(s.config) / "auto"));
    expect_sound();
}

/// A child process that makes `paths` its temporary roots, says so on a pipe, then waits to be killed.
struct RootHolder {
    pid_t pid = -1;
    RootHolder(const StoreConfig& config, const StorePathSet& paths) {
        int fds[2];
        EXPECT_EQ(::pipe(fds), 0);
        pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            try {
                add_temp_roots(config, StoreDir(config.store_dir), paths);
            } catch (...) {
                ::_exit(1);
            }
            (void)!::write(fds[1], "r", 1);
            for (;;)
                ::pause();
        }
        ::close(fds[1]);
        char c = 0;
        EXPECT_EQ(::read(fds[0], &c, 1), 1);
        ::close(fds[0]);
    }
    void kill() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            pid = -1;
        }
    }
    ~RootHolder() { kill(); }
};

TEST_F(GcTest, TemporaryRootsOfARunningProcessAreKeptAndStaleOnesDropped) {
    auto c = add("c");
    auto b = add("b", {c});
    auto x = add("x");
    RootHolder holder(s.config, {b});
    EXPECT_EQ(gc().paths, printed({x}));
    EXPECT_TRUE(store.is_valid_path(b));
    EXPECT_TRUE(store.is_valid_path(c)); // the closure of a temporary root
    auto file = temp_roots_dir(s.config) / std::to_string(holder.pid);
    EXPECT_TRUE(fs::exists(file));

    holder.kill(); // its file is stale now: deleted, and its roots are garbage
    auto r = gc();
    std::sort(r.paths.begin(), r.paths.end());
    EXPECT_EQ(r.paths, printed({b, c}));
    EXPECT_FALSE(fs::exists(file));
    expect_sound();
}

TEST_F(GcTest, OwnTemporaryRootsAreLiveInAnAutomaticCollection) {
    // NixOS/nix#2285: an automatic collection inside a realising process took that process's own file
    // for stale and deleted what its build needed.
    auto input = add("input");
    auto other = add("other");
    store.add_temp_roots({input});
    EXPECT_EQ(gc().paths, printed({other}));
    EXPECT_TRUE(store.is_valid_path(input));
    EXPECT_TRUE(fs::exists(temp_roots_dir(s.config) / std::to_string(::getpid())));
}

TEST_F(GcTest, AddingATemporaryRootWaitsForARunningCollection) {
    auto p = add("p");
    int go[2], done[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(done), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        char c;
        // The lock is taken after the fork, so this process has no descriptor that holds it.
        if (::read(go[0], &c, 1) != 1) ::_exit(2);
        add_temp_roots(s.config, StoreDir(s.config.store_dir), {p});
        (void)!::write(done[1], "r", 1);
        ::_exit(0);
    }
    ::close(go[0]);
    ::close(done[1]);
    std::optional<GcLock> lock(GcLock::exclusive(s.config)); // as a collection holds it
    ASSERT_EQ(::write(go[1], "g", 1), 1);
    ::fcntl(done[0], F_SETFL, O_NONBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    char c = 0;
    EXPECT_EQ(::read(done[0], &c, 1), -1) << "the root was added while the collection held its lock";
    lock.reset();
    ::fcntl(done[0], F_SETFL, 0);
    EXPECT_EQ(::read(done[0], &c, 1), 1);
    ::close(done[0]);
    ::close(go[1]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(GcTest, MaxFreedStopsEarly) {
    std::vector<StorePath> garbage;
    for (int i = 0; i < 50; ++i)
        garbage.push_back(add("g" + std::to_string(i), {}, {}, false, 1000));
    GcOptions o;
    o.max_freed = 10000; // about 10 of the 50 files
    auto r = collect_garbage(store, o);
    EXPECT_GT(r.bytes_freed, o.max_freed);
    EXPECT_LE(r.bytes_freed, o.max_freed + 1004); // it stops at the path that passes the limit
    EXPECT_GE(r.paths.size(), 9u);
    EXPECT_LE(r.paths.size(), 10u);
    expect_sound();
    EXPECT_EQ(gc().paths.size() + r.paths.size(), garbage.size()); // a second collection does the rest

    o.max_freed = 0;
    add("late");
    EXPECT_TRUE(collect_garbage(store, o).paths.empty());
}

TEST_F(GcTest, DeleteRefusesLiveAndReferencedPaths) {
    auto c = add("c");
    auto b = add("b", {c});
    auto a = add("a", {b});
    auto r = add("r");
    root("r", r);
    GcOptions o;
    o.action = GcOptions::Action::delete_specific;
    o.paths_to_delete = {c};
    try {
        collect_garbage(store, o);
        ADD_FAILURE() << "deleted a referenced path";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot delete path '" + store.print(c) +
                                             "' because it is in use by '" + store.print(b) + "'");
    }
    o.paths_to_delete = {r};
    try {
        collect_garbage(store, o);
        ADD_FAILURE() << "deleted a root";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "Cannot delete path '" + store.print(r) +
                      "' since it is still alive. To find out why, use: ferry store gc "
                      "--print-roots");
    }
    EXPECT_TRUE(store.is_valid_path(c));
    o.paths_to_delete = {a, b, c}; // a closure whose top nothing refers to
    auto res = collect_garbage(store, o);
    EXPECT_EQ(res.paths, (std::vector<std::string>{store.print(a), store.print(b), store.print(c)}));
    EXPECT_TRUE(store.is_valid_path(r));
    expect_sound();
}

TEST_F(GcTest, InvalidatingByRowIdRefusesAPathInUseAndChangesNothing) {
    auto lib = add("lib");
    auto app = add("app", {lib}, std::nullopt, true);
    auto other = add("other", {lib});
    auto g = store.load_graph();
    auto id = [&](const StorePath& p) { return g.ids.at(*g.find(p)); };
    try {
        store.invalidate_ids({id(app), id(lib)});
        FAIL() << "a path in use was made invalid";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot delete path '" + store.print(lib) +
                                             "' because it is in use by '" + store.print(other) + "'");
    }
    EXPECT_TRUE(store.is_valid_path(app));
    EXPECT_TRUE(store.is_valid_path(lib));
    // The set with its referrer goes, references (the self-reference too) included; unknown ids are
    // ignored.
    store.invalidate_ids({id(other), id(app), id(lib), 1 << 30});
    EXPECT_EQ(store.load_graph().size(), 0u);
    {
        Database db(s.config.db_file(), false);
        Statement refs(db, "select count(*) from Refs");
        auto q = refs.use();
        ASSERT_TRUE(q.next());
        EXPECT_EQ(q.get_int(0), 0);
    }
    // The schema's foreign keys act again afterwards: they refuse to drop a path in use.
    auto lib2 = add("lib2");
    add("user2", {lib2});
    EXPECT_ANY_THROW(store.invalidate_paths({lib2}, false));
    EXPECT_TRUE(store.is_valid_path(lib2));
}

TEST_F(GcTest, KeepDerivationsAndKeepOutputs) {
    auto drv = add("thing.drv");
    auto out = add("thing", {}, drv);
    store.register_derivation_outputs(drv, {{"out", out}});
    root("out", out);
    GcOptions o;
    o.action = GcOptions::Action::return_dead;
    EXPECT_TRUE(collect_garbage(store, o).paths.empty()); // keep-derivations is on by default
    o.keep_derivations = false;
    EXPECT_EQ(collect_garbage(store, o).paths, printed({drv}));

    fs::remove(gc_roots_dir(s.config) / "out");
    root("drv", drv);
    o.keep_derivations = true;
    EXPECT_EQ(collect_garbage(store, o).paths, printed({out})); // keep-outputs is off by default
    o.keep_outputs = true;
    EXPECT_TRUE(collect_garbage(store, o).paths.empty());
}

TEST_F(GcTest, WhatAKilledCollectionLeavesIsCleanedUp) {
    auto kept = add("kept");
    root("kept", kept);
    // Files of invalid paths (a collection killed after invalidating) and a trash dir with contents.
    auto stale = StorePath(compress_hash(hash_string(HashAlgo::sha256, "stale"), 20), "stale");
    write_file_atomic(store.real_path(stale), "x");
    auto trash = store.config().real_store_dir() / kTrashDirName;
    make_directories(trash / "old" / "sub");
    write_file_atomic(trash / "old" / "sub" / "f", "y");
    // An invalid path whose lock is held is being made valid by someone: left alone.
    auto busy = StorePath(compress_hash(hash_string(HashAlgo::sha256, "busy"), 20), "busy");
    write_file_atomic(store.real_path(busy), "z");
    {
        auto held = s.open_again()->lock_path(busy);
        auto r = gc();
        EXPECT_TRUE(r.paths.empty());
        EXPECT_EQ(r.invalid_deleted, 1u);
        EXPECT_FALSE(fs::exists(store.real_path(stale)));
        EXPECT_TRUE(fs::exists(store.real_path(busy)));
        EXPECT_FALSE(fs::exists(trash));
    }
    EXPECT_EQ(gc().invalid_deleted, 1u);
    EXPECT_TRUE(store.is_valid_path(kept));
    expect_sound();
}

TEST_F(GcTest, GeneratedStore) {
    auto g = test::generate_store(store, 1000, 1500);
    auto r = gc();
    EXPECT_EQ(r.paths.size(), g.garbage.size());
    EXPECT_EQ(store.load_graph().size(), g.live.size());
    expect_sound();
    std::printf(
        "gc of 2,500 paths (1,500 garbage): roots %.1f ms, load %.1f ms, mark %.1f ms, delete %.1f ms\n",
        r.timings.roots_ms, r.timings.load_ms, r.timings.mark_ms, r.timings.delete_ms);
}

} // namespace
} // namespace ferry
