// The unsandboxed builder (sandbox = false): the caller's identity, or as root a build user's (never
// root); the host's file system; the logical store shown through a bind mount (or a host view where
// the store dir does not exist on the host); leftovers killed; failures cleaned up.
#include "ferry/sandbox/local_builder.hh"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <random>

#include <gtest/gtest.h>

#include "ferry/util/file.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

bool root() {
    return ::geteuid() == 0;
}

/// The builder under test: as root with a build users group made for the test (auto-allocated uids in
/// its gid, ferry's default), unprivileged as the caller.
struct Local {
    std::optional<TestBuildUsers> users;
    std::unique_ptr<LocalBuilder> builder;

    explicit Local(bool auto_allocate = true, int members = 0) {
        if (root()) users.emplace(members);
        builder = std::make_unique<LocalBuilder>(users ? users->options(auto_allocate) : BuildUserOptions{});
    }
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        out.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

bool gone(pid_t pid) {
    for (int i = 0; i < 100; ++i) {
        if (::kill(pid, 0) != 0) return true;
        ::usleep(20000);
    }
    return false;
}

/// Builds a probe of identity and store visibility with `store`; checks what only depends on the caller.
void expect_identity_and_store(FakeStore& store, Local& local) {
    auto drv = store.shell_derivation(
        "local-probe", "{ id -u; id -g; id -G; echo \"$NIX_BUILD_TOP\"; pwd; cat " + store.busybox_sh() +
                           " > /dev/null && echo store-visible; test -d /etc && "
                           "echo host-etc; } > $out");
    auto job = store.job(drv);
    auto out = run_build(*local.builder, job);
    auto text = read_file(out->locations.at("out"));
    auto facts = lines(text);
    ASSERT_EQ(facts.size(), 7u) << text;
    if (root()) {
        BuildUserOptions defaults;
        uid_t uid = std::stoul(facts[0]);
        EXPECT_NE(uid, 0u) << "the unsandboxed builder ran as root";
        EXPECT_GE(uid, defaults.start_id);
        EXPECT_LT(uid, defaults.start_id + defaults.id_count);
        EXPECT_EQ((uid - defaults.start_id) % kIdsPerBuildSlot, 0u);
        EXPECT_EQ(facts[1], std::to_string(local.users->gid()));
        EXPECT_EQ(facts[2], std::to_string(local.users->gid())) << "supplementary groups are dropped";
    } else {
        EXPECT_EQ(facts[0], std::to_string(::geteuid()));
    }
    // NIX_BUILD_TOP and the working directory are the real build directory on the host.
    EXPECT_NE(facts[3].find("/nix-build-"), std::string::npos) << text;
    EXPECT_EQ(facts[3], facts[4]);
    EXPECT_EQ(facts[5], "store-visible");
    EXPECT_EQ(facts[6], "host-etc");
    // The output was written through the logical path into the physical store directory.
    EXPECT_EQ(out->locations.at("out").parent_path(), store.real_store_dir());
    // The build directory (claimed in the scratch area while the outputs live) goes with them.
    out.reset();
    EXPECT_TRUE(store.clean());
}

} // namespace

TEST(LocalBuilder, BuildsAsTheCallerOrABuildUserWithTheStoreAtItsLogicalPath) {
    FakeStore store;
    Local local;
    expect_identity_and_store(store, local);
    if (root()) {
        // As Nix's store: the build users may create entries, and not remove those of others.
        struct stat st {};
        ASSERT_EQ(::stat(store.real_store_dir().c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 01775u);
        EXPECT_EQ(st.st_gid, local.users->gid());
        EXPECT_EQ(st.st_uid, 0u);
    }
}

TEST(LocalBuilder, AStoreDirMissingOnTheHostIsShownThroughAHostView) {
    // Nothing is created on the host for it: the store dir's deepest existing parent is "/" here...
    std::random_device rd;
    auto absent = "/ferry-absent-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
    ASSERT_FALSE(fs::exists(absent));
    FakeStore at_root(absent + "/nix/store");
    Local local;
    expect_identity_and_store(at_root, local);
    EXPECT_FALSE(fs::exists(absent));

    // ... and a directory of the host (a temporary one) here, which the view stands in for.
    TempDir parent;
    ::chmod(parent.path().c_str(), 0755);
    write_file_atomic(parent.path() / "kept", "host file\n");
    FakeStore below((parent.path() / "store").string());
    auto drv = below.shell_derivation("view", "cat " + (parent.path() / "kept").string() + " > $out");
    auto job = below.job(drv);
    EXPECT_EQ(read_file(run_build(*local.builder, job)->locations.at("out")), "host file\n");
    EXPECT_FALSE(fs::exists(parent.path() / "store"));
}

TEST(LocalBuilder, ProcessesLeftBehindAreKilled) {
    FakeStore store;
    Local local;
    // One stays in the builder's process group; the other leaves it (its own session), which as root
    // the build user's uid still catches.
    auto script = std::string("sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > $out; ") +
                  (root() ? "setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $! >> $out" : "true");
    auto drv = store.shell_derivation("daemon", script);
    auto job = store.job(drv);
    auto out = run_build(*local.builder, job);
    for (const auto& line : lines(read_file(out->locations.at("out"))))
        EXPECT_TRUE(gone(pid_t(std::stoi(line)))) << "pid " << line << " survived the build";
}

TEST(LocalBuilder, FailureRemovesPartialOutputs) {
    FakeStore store;
    Local local;
    auto drv = store.shell_derivation("fails", "echo partial > $out; echo oops >&2; exit 3");
    std::string log;
    auto job = store.job(drv, &log);
    try {
        run_build(*local.builder, job);
        FAIL() << "no error";
    } catch (const BuildError& e) {
        EXPECT_NE(std::string(e.what()).find("failed with exit code 3"), std::string::npos) << e.what();
    }
    EXPECT_NE(log.find("oops"), std::string::npos);
    for (const auto& [_, path] : job.outputs)
        EXPECT_FALSE(fs::exists(store.real_store_dir() / path.to_string()));
}

TEST(LocalBuilder, AsRootAMemberOfTheBuildUsersGroupWhenAutoAllocationIsOff) {
    if (!root()) GTEST_SKIP() << "only root has build users";
    FakeStore store;
    Local local(false, 1);
    auto drv = store.shell_derivation("member", "{ id -u; id -g; } > $out");
    auto job = store.job(drv);
    EXPECT_EQ(read_file(run_build(*local.builder, job)->locations.at("out")),
              std::to_string(local.users->uids()[0]) + "\n" + std::to_string(local.users->gid()) + "\n");
}

TEST(LocalBuilder, AsRootWithoutABuildUsersGroupAutoAllocatedUidsShareTheRangesLastId) {
    if (!root()) GTEST_SKIP() << "only root has build users";
    FakeStore store;
    BuildUserOptions options;
    options.group = "ferry-absent-" + std::to_string(::getpid());
    LocalBuilder builder(options);
    auto drv = store.shell_derivation("no-group", "{ id -u; id -g; } > $out");
    auto job = store.job(drv);
    auto ids = lines(read_file(run_build(builder, job)->locations.at("out")));
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_NE(ids[0], "0");
    EXPECT_EQ(ids[1], std::to_string(options.start_id + options.id_count - 1));
}

TEST(LocalBuilder, AsRootAMissingOrEmptyGroupIsAOneLineError) {
    if (!root()) GTEST_SKIP() << "only root has build users";
    FakeStore store;
    auto drv = store.shell_derivation("no-group", "echo built > $out");
    auto job = store.job(drv);
    BuildUserOptions options;
    options.auto_allocate = false;
    options.group = "ferry-absent-" + std::to_string(::getpid());
    LocalBuilder missing(options);
    try {
        run_build(missing, job);
        FAIL() << "built without a build user";
    } catch (const BuildError& e) {
        EXPECT_NE(std::string(e.what()).find("the group '" + options.group +
                                             "' specified in 'build-users-group' does not exist"),
                  std::string::npos)
            << e.what();
    }
    TestBuildUsers empty;
    LocalBuilder no_members(empty.options(false));
    try {
        run_build(no_members, job);
        FAIL() << "built without a build user";
    } catch (const BuildError& e) {
        EXPECT_NE(std::string(e.what()).find("the build users group '" + empty.group() + "' has no members"),
                  std::string::npos)
            << e.what();
    }
    for (const auto& [_, path] : job.outputs)
        EXPECT_FALSE(fs::exists(store.real_store_dir() / path.to_string()));
}
