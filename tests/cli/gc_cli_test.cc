// `ferry store gc|delete|verify|repair` on real stores: roots of every kind (a `result` link made by
// `ferry build`, a gcroots link, the temporary roots of a realise waiting on a slow cache), exactly the
// garbage listed and deleted, a collection killed at random moments, verify's lines and exit status, and
// repair from a binary cache on 127.0.0.1.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "cli_fixture.hh"
#include "ferry/store/gc_roots.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/hash.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"
#include "support/store_check.hh"
#include "support/store_gen.hh"
#include "support/store_support.hh"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace ferry::test {
namespace {

std::string cache_key() {
    std::string key = read_file(compat_dir() / "keys" / "cache.pub");
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
        key.pop_back();
    return key;
}

struct GcCliTest : CliTest {
    std::string path_of(std::string_view suffix) { return fixture(suffix)["path"]; }
    void import(std::string_view suffix) {
        auto r = ferry(import_args(fixture(suffix)));
        ASSERT_EQ(r.status, 0) << r.err;
    }
    bool valid(const std::string& path) { return ferry({"path-info", path}).status == 0; }
    std::vector<std::string> sorted(std::vector<std::string> v) {
        std::sort(v.begin(), v.end());
        return v;
    }
    std::string ferry_binary() { return (build_root() / "src" / "cli" / "ferry").string(); }
};

TEST_F(GcCliTest, RootsOfEveryKindAndExactlyTheGarbage) {
    import_busybox();
    // A `result` link made by `ferry build`.
    auto drv = busybox_derivation(tmp.path(), "gc-built", "echo built > $out");
    auto built = ferry({"build", drv, "-o", (tmp.path() / "result").string()});
    ASSERT_EQ(built.status, 0) << built.err;
    auto out = lines_of(built.out).at(0);
    ASSERT_TRUE(fs::is_symlink(tmp.path() / "result"));
    ASSERT_EQ(fs::read_symlink(tmp.path() / "result"), config.real_store_dir() / fs::path(out).filename());
    // A gcroots link.
    import("-plain.txt");
    make_directories(gc_roots_dir(config));
    fs::create_symlink(path_of("-plain.txt"), gc_roots_dir(config) / "mine");
    // Garbage.
    std::vector<std::string> garbage;
    for (auto name : {"-weird-env", "-fixed-flat.txt", "-self-ref", "-fixed-recursive"}) {
        import(name);
        garbage.push_back(path_of(name));
    }
    // The temporary roots of a realise that waits on a slow cache: diamond-top's closure is valid here
    // and nothing else roots it; only diamond-top's own NAR is still to come.
    std::vector<std::string> closure;
    for (auto name : {"-multi-out", "-multi-out-dev", "-hello-text", "-dir-tree", "-dep-chain", "-uses-text",
                      "-pass-as-file"}) {
        import(name);
        closure.push_back(path_of(name));
    }
    HttpServer server(compat_dir() / "cache-xz");
    server.set_fault("*.nar*", HttpFault{.delay = 4000ms});
    auto url = server.url("/");
    url.pop_back();
    auto top = path_of("-diamond-top");
    pid_t realise = spawn_command({ferry_binary(), "--store", root.string(), "--option", "substituters", url,
                                   "--option", "trusted-public-keys", cache_key(), "realise", top},
                                  "/dev/null", tmp.path() / "realise.out", tmp.path() / "realise.err");
    for (int i = 0; i < 400 && server.request_log().size() < 3; ++i)
        std::this_thread::sleep_for(25ms);
    bool nar_requested = false;
    for (const auto& r : server.request_log())
        nar_requested |= r.path.find(".nar") != std::string::npos;
    ASSERT_TRUE(nar_requested) << read_file(tmp.path() / "realise.err");

    auto dead = ferry({"store", "gc", "--print-dead"});
    ASSERT_EQ(dead.status, 0) << dead.err;
    EXPECT_EQ(lines_of(dead.out), sorted(garbage));
    auto dry = ferry({"store", "gc", "--dry-run"});
    ASSERT_EQ(dry.status, 0) << dry.err;
    EXPECT_EQ(sorted(lines_of(dry.out)), sorted(garbage));
    EXPECT_NE(dry.err.find("4 store paths would be deleted"), std::string::npos) << dry.err;
    auto roots = ferry({"store", "gc", "--print-roots"});
    EXPECT_NE(roots.out.find((gc_roots_dir(config) / "mine").string() + " -> " + path_of("-plain.txt")),
              std::string::npos)
        << roots.out;
    EXPECT_NE(roots.out.find((tmp.path() / "result").string() + " -> " + out), std::string::npos)
        << roots.out;
    EXPECT_NE(roots.out.find("{temp:" + std::to_string(realise) + "} -> " + path_of("-dep-chain")),
              std::string::npos)
        << roots.out;

    auto gc = ferry({"store", "gc"});
    ASSERT_EQ(gc.status, 0) << gc.err;
    auto gc_lines = lines_of(gc.out);
    ASSERT_EQ(gc_lines.size(), garbage.size() + 1);
    EXPECT_TRUE(gc_lines.back().starts_with("4 store paths deleted, ")) << gc.out;
    gc_lines.pop_back();
    EXPECT_EQ(sorted(gc_lines), sorted(garbage));
    for (const auto& g : garbage)
        EXPECT_FALSE(valid(g));

    EXPECT_EQ(wait_command(realise), 0) << read_file(tmp.path() / "realise.err");
    for (const auto& p : closure)
        EXPECT_TRUE(valid(p)) << p;
    for (const auto& p : {top, out, kBusybox, path_of("-plain.txt")})
        EXPECT_TRUE(valid(p)) << p;
    auto verify = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(verify.status, 0) << verify.err;
    EXPECT_TRUE(store_problems(config).empty());

    // Once the realise is over and the links go, everything but the gcroots link's path is garbage.
    fs::remove(tmp.path() / "result");
    auto again = ferry({"store", "gc", "--print-live"});
    EXPECT_EQ(lines_of(again.out), std::vector<std::string>{path_of("-plain.txt")});
}

TEST_F(GcCliTest, DeleteRefusesAReferencedPath) {
    for (auto name : {"-multi-out", "-multi-out-dev"})
        import(name);
    auto r = ferry({"store", "delete", path_of("-multi-out")});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "error: cannot delete path '" + path_of("-multi-out") + "' because it is in use by '" +
                         path_of("-multi-out-dev") + "'\n");
    EXPECT_TRUE(valid(path_of("-multi-out")));
    auto ok = ferry({"store", "delete", path_of("-multi-out-dev"), path_of("-multi-out")});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_TRUE(ok.out.starts_with("2 store paths deleted, ")) << ok.out;
    EXPECT_FALSE(valid(path_of("-multi-out")));
}

TEST_F(GcCliTest, VerifyFindsDamageAndRepairFetchesItAgain) {
    for (auto name : {"-dir-tree", "-plain.txt", "-hello-text"})
        import(name);
    auto sound = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(sound.status, 0) << sound.err;
    EXPECT_EQ(sound.out, "");

    auto tree = config.real_store_dir() / fs::path(path_of("-dir-tree")).filename();
    fs::path file;
    for (const auto& e : fs::recursive_directory_iterator(tree))
        if (e.is_regular_file()) file = e.path();
    fs::permissions(file.parent_path(), fs::perms::owner_all);
    fs::permissions(file, fs::perms::owner_all);
    write_file_atomic(file, "damaged\n");
    delete_path(config.real_store_dir() / fs::path(path_of("-plain.txt")).filename());

    auto quick = ferry({"store", "verify"});
    EXPECT_EQ(quick.status, 1);
    EXPECT_EQ(quick.err,
              "path '" + path_of("-plain.txt") + "' disappeared\nwarning: not all store errors were fixed\n");
    auto full = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(full.status, 1);
    auto lines = lines_of(full.err);
    ASSERT_EQ(lines.size(), 3u) << full.err;
    EXPECT_TRUE(lines[0].starts_with(
        "path '" + path_of("-dir-tree") + "' was modified! expected hash '" +
        Hash::parse(fixture("-dir-tree")["narHash"].get<std::string>()).to_nix32_prefixed()))
        << lines[0];
    EXPECT_EQ(lines[1], "path '" + path_of("-plain.txt") + "' disappeared");

    // Repaired from a binary cache on 127.0.0.1.
    HttpServer server(compat_dir() / "cache-xz");
    auto url = server.url("/");
    url.pop_back();
    auto repaired = ferry({"--option", "substituters", url, "--option", "trusted-public-keys", cache_key(),
                           "store", "verify", "--check-contents", "--repair"});
    EXPECT_EQ(repaired.status, 0) << repaired.err;
    auto after = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(after.status, 0) << after.err;
    EXPECT_TRUE(store_problems(config).empty());

    // `store repair PATH`: the same for one path; without a cache that has it, it fails.
    write_file_atomic(config.real_store_dir() / fs::path(path_of("-hello-text")).filename(), "x");
    auto one = ferry({"--option", "substituters", url, "--option", "trusted-public-keys", cache_key(),
                      "store", "repair", path_of("-hello-text")});
    EXPECT_EQ(one.status, 0) << one.err;
    EXPECT_EQ(ferry({"store", "verify", "--check-contents"}).status, 0);
    auto none = ferry({"--option", "substituters", "", "store", "repair", path_of("-hello-text")});
    EXPECT_EQ(none.status, 1);
    EXPECT_NE(none.err.find("cannot repair path '" + path_of("-hello-text") + "'"), std::string::npos)
        << none.err;
}

TEST_F(GcCliTest, RepairRebuildsABuiltPathThatNoCacheHas) {
    import_busybox();
    auto drv = busybox_derivation(tmp.path(), "repair-me", "echo rebuilt > $out");
    auto built = ferry({"build", "--no-out-link", drv});
    ASSERT_EQ(built.status, 0) << built.err;
    auto out = lines_of(built.out).at(0);
    auto real = config.real_store_dir() / fs::path(out).filename();
    fs::permissions(real, fs::perms::owner_all);
    write_file_atomic(real, "damaged\n");
    auto bad = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("path '" + out + "' was modified!"), std::string::npos) << bad.err;

    // No substituter: the deriver is built again and its output swapped in.
    auto repaired =
        ferry({"--option", "substituters", "", "store", "verify", "--check-contents", "--repair"});
    EXPECT_EQ(repaired.status, 0) << repaired.err;
    EXPECT_NE(repaired.err.find("repaired path '" + out + "' by rebuilding"), std::string::npos)
        << repaired.err;
    EXPECT_EQ(read_file(real), "rebuilt\n");
    auto after = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(after.status, 0) << after.err;
    EXPECT_EQ(after.err, "");

    // A missing output, with `store repair PATH`.
    delete_path(real);
    auto one = ferry({"--option", "substituters", "", "store", "repair", out});
    EXPECT_EQ(one.status, 0) << one.err;
    EXPECT_EQ(read_file(real), "rebuilt\n");
    EXPECT_EQ(ferry({"store", "verify", "--check-contents"}).status, 0);

    // A rebuild that differs from the recorded hash repairs nothing: a clear error, the store unchanged.
    auto nondet =
        busybox_derivation(tmp.path(), "repair-nondet", "$bb/busybox od -An -N16 -tx1 /dev/urandom > $out");
    auto built2 = ferry({"build", "--no-out-link", nondet});
    ASSERT_EQ(built2.status, 0) << built2.err;
    auto out2 = lines_of(built2.out).at(0);
    auto real2 = config.real_store_dir() / fs::path(out2).filename();
    fs::permissions(real2, fs::perms::owner_all);
    write_file_atomic(real2, "damaged\n");
    auto refused = ferry({"--option", "substituters", "", "store", "verify", "--check-contents", "--repair"});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("cannot repair path '" + out2 + "' by rebuilding"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("may not be deterministic"), std::string::npos) << refused.err;
    EXPECT_EQ(read_file(real2), "damaged\n");
    EXPECT_EQ(read_file(real), "rebuilt\n");
}

TEST_F(GcCliTest, VerifyListsLeftoversAndRepairDeletesThem) {
    import("-plain.txt");
    auto staging = config.staging_dir() / "999999999-1-0-hello";
    make_directories(staging / "out");
    auto lock = config.locks_dir() / (fs::path(path_of("-plain.txt")).filename().string() + ".lock");
    write_file_atomic(lock, "");
    auto invalid = config.real_store_dir() / "00000000000000000000000000000000-garbage";
    write_file_atomic(invalid, "left by a killed collection\n");
    auto trash = config.real_store_dir() / ".ferry-trash";
    make_directories(trash / "x");

    // Leftovers are garbage, not a broken promise: listed, and the exit status stays 0.
    auto found = ferry({"store", "verify"});
    EXPECT_EQ(found.status, 0);
    auto lines = lines_of(found.err);
    ASSERT_EQ(lines.size(), 4u) << found.err;
    EXPECT_EQ(lines[0], "leftover '" + staging.string() +
                            "' of process 999999999 that no longer runs (deleted by the start-up clean-up)");
    EXPECT_EQ(lines[1], "leftover lock file '" + lock.string() +
                            "' that no process holds (deleted by the start-up clean-up)");
    std::vector<std::string> rest{lines[2], lines[3]};
    EXPECT_EQ(
        sorted(rest),
        sorted({"'" + invalid.string() +
                    "' is in the store directory, but not a valid path (--repair or a collection deletes it)",
                "leftover trash '" + trash.string() +
                    "' of an interrupted garbage collection (--repair or a collection deletes it)"}));
    EXPECT_FALSE(fs::exists(staging));
    EXPECT_FALSE(fs::exists(lock));

    auto repaired = ferry({"store", "verify", "--repair"});
    EXPECT_EQ(repaired.status, 0) << repaired.err;
    EXPECT_FALSE(fs::exists(invalid));
    EXPECT_FALSE(fs::exists(trash));
    auto clean = ferry({"store", "verify", "--check-contents"});
    EXPECT_EQ(clean.status, 0);
    EXPECT_EQ(clean.err, "");
    EXPECT_TRUE(valid(path_of("-plain.txt")));
}

TEST_F(GcCliTest, AutomaticCollectionBeforeABuildKeepsWhatTheBuildUses) {
    // min-free above the free space: the build's process collects before it starts the builder. The
    // garbage goes; busybox, the builder, and the .drv are this process's temporary roots (NixOS/nix#2285
    // was an automatic collection deleting what its own build needed).
    import_busybox();
    std::vector<std::string> garbage;
    for (auto name : {"-weird-env", "-fixed-flat.txt"}) {
        import(name);
        garbage.push_back(path_of(name));
    }
    auto drv =
        busybox_derivation(tmp.path(), "gc-auto", "$bb/busybox cat $bb/busybox > /dev/null; echo ok > $out");
    auto r = ferry({"--option", "min-free", "4611686018427387904", "--option", "max-free",
                    "4611686018427387904", "build", "--no-out-link", drv});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("running auto-GC to free"), std::string::npos) << r.err;
    for (const auto& g : garbage)
        EXPECT_FALSE(valid(g)) << g;
    EXPECT_TRUE(valid(kBusybox));
    EXPECT_TRUE(valid(lines_of(r.out).at(0)));
    EXPECT_EQ(ferry({"store", "verify", "--check-contents"}).status, 0);
}

TEST_F(GcCliTest, CollectionKilledAtRandomMomentsLeavesAConsistentStore) {
    constexpr int kKills = 10;
    constexpr size_t kLive = 1000, kGarbage = 4000;
    // The store is large so that a collection takes a while; on tmpfs when there is one, so that
    // generating it does not depend on a disk that other jobs share (what is tested is consistency).
    std::optional<TempDir> shm;
    if (fs::is_directory("/dev/shm")) shm.emplace("/dev/shm", "ferry-gc-kill");
    StoreConfig kill_config{.store_dir = "/nix/store",
                            .root = (shm ? shm->path() : tmp.path()) / "kill-root"};
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--store", kill_config.root.string()});
        return run_ferry(args);
    };
    {
        LocalStore store(kill_config);
        generate_store(store, kLive, 0, "kept-");
    }
    auto add_garbage = [&](int round) {
        LocalStore store(kill_config);
        generate_store(store, 0, kGarbage, "round" + std::to_string(round) + "-");
    };
    // One collection to the end: how long deleting this much garbage takes here.
    add_garbage(-1);
    auto start = std::chrono::steady_clock::now();
    auto full = run({"store", "gc"});
    ASSERT_EQ(full.status, 0) << full.err;
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_NE(full.out.find(std::to_string(kGarbage) + " store paths deleted"), std::string::npos)
        << full.out;

    std::mt19937 rng(std::random_device{}());
    int killed = 0, inconsistent = 0;
    for (int k = 0; k < kKills; ++k) {
        add_garbage(k);
        auto moment = std::chrono::duration_cast<std::chrono::microseconds>(took) *
                      std::uniform_real_distribution<double>(0.05, 0.95)(rng);
        pid_t pid = spawn_command({ferry_binary(), "--store", kill_config.root.string(), "store", "gc"},
                                  "/dev/null", tmp.path() / "gc.out", tmp.path() / "gc.err");
        std::this_thread::sleep_for(moment);
        ::kill(pid, SIGKILL);
        killed += wait_command(pid) == 128 + SIGKILL;
        auto verify = run({"store", "verify", "--check-contents"});
        if (verify.status != 0) {
            ++inconsistent;
            ADD_FAILURE() << "after kill " << k << ": " << verify.err;
        }
    }
    std::printf(
        "%d kills (%d during the collection), %d inconsistencies; a full collection of %zu paths took "
        "%.2f s\n",
        kKills, killed, inconsistent, kGarbage, std::chrono::duration<double>(took).count());
    EXPECT_GE(killed, kKills - 2);
    // A second collection finishes the job: only the rooted closure is left, nothing else in the store.
    auto last = run({"store", "gc"});
    ASSERT_EQ(last.status, 0) << last.err;
    auto live = run({"store", "gc", "--print-live"});
    EXPECT_EQ(lines_of(live.out).size(), kLive);
    EXPECT_EQ(run({"store", "verify", "--check-contents"}).status, 0);
    EXPECT_TRUE(store_problems(kill_config).empty());
}

} // namespace
} // namespace ferry::test
