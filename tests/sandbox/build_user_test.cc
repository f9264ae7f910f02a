// Host ids for builds run as root: auto-allocated slots and build users, each locked for one build,
// with Nix's errors for configurations that cannot work; killing what runs under an id.
#include "ferry/sandbox/build_user.hh"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ferry/sandbox/host_view.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/sandbox_options.hh"
#include "ferry/util/file.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

/// A range of its own for this process, so concurrent test runs do not meet.
BuildUserOptions private_range() {
    BuildUserOptions options;
    options.start_id = 0x50000000u + uint32_t(::getpid() % 4096) * 4 * kIdsPerBuildSlot;
    options.id_count = 4 * kIdsPerBuildSlot;
    return options;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const SandboxError& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(BuildIds, AutoAllocatedSlotsAreLockedForOneBuildEach) {
    TempDir state;
    auto options = private_range();
    auto a = try_acquire_build_ids(options, state.path(), true);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->uid(), options.start_id);
    EXPECT_EQ(a->gid(), a->uid()) << "in a user namespace, the gid is the same number";
    EXPECT_EQ(a->description(), "auto-allocated uid " + std::to_string(options.start_id));
    EXPECT_TRUE(fs::exists(state.path() / "userpool2/slot-0"));
    std::vector<std::shared_ptr<BuildIds>> held{a};
    for (uint32_t slot = 1; slot < 4; ++slot) {
        auto next = try_acquire_build_ids(options, state.path(), true);
        ASSERT_TRUE(next);
        EXPECT_EQ(next->uid(), options.start_id + slot * kIdsPerBuildSlot);
        held.push_back(next);
    }
    EXPECT_FALSE(try_acquire_build_ids(options, state.path(), true)) << "every slot is taken";
    held[2].reset();
    a.reset();
    held[0].reset();
    auto again = try_acquire_build_ids(options, state.path(), true);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->uid(), options.start_id) << "a released slot is free again";
}

TEST(BuildIds, ConfigurationsThatCannotWorkAreOneLineErrors) {
    TempDir state;
    auto options = private_range();
    options.start_id = 1000;
    EXPECT_NE(
        message_of([&] { try_acquire_build_ids(options, state.path(), true); }).find("'start-id' (1000)"),
        std::string::npos);
    options = private_range();
    options.group = "ferry-absent-" + std::to_string(::getpid());
    options.auto_allocate = false;
    EXPECT_EQ(message_of([&] { try_acquire_build_ids(options, state.path(), true); }),
              "the group '" + options.group + "' specified in 'build-users-group' does not exist");
}

TEST(BuildIds, TwoStoresNeverShareAnId) {
    TempDir first, second;
    auto options = private_range();
    auto a = try_acquire_build_ids(options, first.path(), true);
    auto b = try_acquire_build_ids(options, second.path(), true);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->uid(), options.start_id);
    EXPECT_EQ(b->uid(), options.start_id + kIdsPerBuildSlot) << "slot 0 is claimed for the whole machine";
    a.reset();
    auto c = try_acquire_build_ids(options, second.path(), true);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->uid(), options.start_id);
}

TEST(BuildIds, WithoutAUserNamespaceAutoAllocatedUidsShareAGid) {
    TempDir state;
    auto options = private_range();
    options.group = "ferry-absent-" + std::to_string(::getpid());
    // No such group (a fresh machine): the range's last id, which no slot starts with.
    auto ids = try_acquire_build_ids(options, state.path(), false);
    ASSERT_TRUE(ids);
    EXPECT_EQ(ids->uid(), options.start_id);
    EXPECT_EQ(ids->gid(), options.start_id + options.id_count - 1);
}

TEST(BuildIds, BuildUsersAreTheGroupsMembersOneBuildEach) {
    if (::geteuid() != 0) GTEST_SKIP() << "making a group needs root";
    TempDir state;
    TestBuildUsers users(2);
    auto options = users.options(false);
    auto a = try_acquire_build_ids(options, state.path(), false);
    auto b = try_acquire_build_ids(options, state.path(), false);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->uid(), users.uids()[0]);
    EXPECT_EQ(b->uid(), users.uids()[1]);
    EXPECT_EQ(a->gid(), users.gid());
    EXPECT_TRUE(fs::exists(state.path() / "userpool" / std::to_string(a->uid())));
    EXPECT_FALSE(try_acquire_build_ids(options, state.path(), false));
    // Auto-allocated uids without a user namespace take the group's gid, as in Nix.
    auto automatic = try_acquire_build_ids(users.options(true), state.path(), false);
    ASSERT_TRUE(automatic);
    EXPECT_EQ(automatic->gid(), users.gid());
}

TEST(BuildIds, IdsWithRunningProcessesAreSkippedAndKilled) {
    EXPECT_TRUE(uid_has_processes(::geteuid()));
    auto options = private_range();
    EXPECT_FALSE(uid_has_processes(options.start_id));
    if (::geteuid() != 0) GTEST_SKIP() << "running a process under another uid needs root";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::syscall(SYS_setuid, options.start_id) == 0) ::pause();
        ::_exit(1);
    }
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
        seen = uid_has_processes(options.start_id);
        if (!seen) ::usleep(10000);
    }
    EXPECT_TRUE(seen);
    TempDir state;
    auto ids = try_acquire_build_ids(options, state.path(), true);
    ASSERT_TRUE(ids);
    EXPECT_EQ(ids->uid(), options.start_id + kIdsPerBuildSlot) << "a uid something runs as is skipped";
    EXPECT_TRUE(kill_uid_processes(options.start_id));
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_FALSE(uid_has_processes(options.start_id));
}

TEST(BuildIds, StateDirOfAJobIsItsStoresOwn) {
    FakeStore store;
    Derivation drv = store.shell_derivation("state", "true");
    auto job = store.job(drv);
    EXPECT_EQ(build_state_dir(job), store.path() / "root/nix/var/ferry");
}

TEST(BuildIds, OptionsComeFromSettings) {
    Settings settings;
    EXPECT_EQ(settings.get("auto-allocate-uids"), "true");
    EXPECT_EQ(settings.get("build-users-group"), "nixbld");
    EXPECT_EQ(settings.get("start-id"), "872415232");
    EXPECT_EQ(settings.get("id-count"), "8388608");
    settings.set("auto-allocate-uids", "false");
    settings.set("build-users-group", "builders");
    settings.set("start-id", "65536");
    settings.set("id-count", "131072");
    auto options = SandboxOptions::from_settings(settings).build_users;
    EXPECT_FALSE(options.auto_allocate);
    EXPECT_EQ(options.group, "builders");
    EXPECT_EQ(options.start_id, 65536u);
    EXPECT_EQ(options.id_count, 131072u);
}

TEST(HostView, BindsTheParentsEntriesAndTheStoreThenPivots) {
    HostViewSpec spec{"/s/view",
                      "/",
                      {{"bin", HostDirEntry::Kind::symlink, "usr/bin"},
                       {"etc", HostDirEntry::Kind::directory, ""},
                       {"vmlinuz", HostDirEntry::Kind::file, ""}},
                      "/nix/store",
                      "/data/root/nix/store"};
    auto plan = plan_host_view(spec);
    EXPECT_EQ(plan.entries,
              (std::vector<FsEntry>{{FsEntry::Kind::symlink, "/s/view/bin", "usr/bin", 0},
                                    {FsEntry::Kind::directory, "/s/view/etc", "", 0755},
                                    {FsEntry::Kind::file, "/s/view/vmlinuz", "", 0644},
                                    {FsEntry::Kind::directory, "/s/view/nix", "", 0755},
                                    {FsEntry::Kind::directory, "/s/view/nix/store", "", 0755}}));
    std::vector<std::string> ops;
    for (const auto& op : plan.mounts)
        ops.push_back(op.describe());
    EXPECT_EQ(ops, (std::vector<std::string>{"making '/' private", "bind-mounting '/s/view' on '/s/view'",
                                             "bind-mounting '/etc' on '/s/view/etc'",
                                             "bind-mounting '/vmlinuz' on '/s/view/vmlinuz'",
                                             "bind-mounting '/data/root/nix/store' on '/s/view/nix/store'",
                                             "pivoting the root to '/s/view'"}));
}

TEST(HostView, BelowAnotherParentTheViewIsBoundOverIt) {
    HostViewSpec spec{
        "/s/view", "/opt", {{"x", HostDirEntry::Kind::directory, ""}}, "/opt/ferry/store", "/r"};
    auto plan = plan_host_view(spec);
    ASSERT_FALSE(plan.mounts.empty());
    EXPECT_EQ(plan.mounts.back().describe(), "bind-mounting '/s/view' on '/opt'");
    spec.store_dir = "/elsewhere/store";
    EXPECT_THROW(plan_host_view(spec), SandboxError);
}
