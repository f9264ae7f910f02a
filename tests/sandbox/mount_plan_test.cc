// The sandbox plan, without namespaces: what the parent creates and the order of the child's mounts.
#include "ferry/sandbox/mount_plan.hh"

#include <sys/mount.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "ferry/sandbox/etc_files.hh"
#include "ferry/sandbox/sandbox_error.hh"

using namespace ferry;

namespace {

constexpr const char* kRoot = "/scratch/root";
constexpr const char* kBusybox = "jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";

SandboxSpec basic_spec() {
    SandboxSpec spec;
    spec.root = kRoot;
    spec.build_dir = "/scratch/build";
    spec.real_store_dir = "/data/root/nix/store";
    spec.inputs = {{kBusybox, SandboxInput::Kind::directory, ""},
                   {"avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt", SandboxInput::Kind::file, ""}};
    spec.host.network_etc_files = {"/etc/resolv.conf", "/etc/hosts"};
    return spec;
}

const FsEntry* find_entry(const SandboxPlan& plan, const std::string& inside) {
    for (const auto& e : plan.entries)
        if (e.path == std::string(kRoot) + inside) return &e;
    return nullptr;
}

/// Index of the first op of `kind` on `target` (host path under the root for a leading '/'), or -1.
int find_op(const SandboxPlan& plan, MountOp::Kind kind, const std::string& target) {
    for (size_t i = 0; i < plan.mounts.size(); ++i)
        if (plan.mounts[i].kind == kind && plan.mounts[i].target == target) return int(i);
    return -1;
}

std::string in_root(const std::string& inside) {
    return std::string(kRoot) + inside;
}

} // namespace

TEST(MountPlan, MakesRootPrivateFirstAndPivotsLast) {
    auto plan = plan_sandbox(basic_spec());
    ASSERT_GE(plan.mounts.size(), 3u);
    EXPECT_EQ(plan.mounts.front(), (MountOp{MountOp::Kind::make_private, "", "/", MS_REC | MS_PRIVATE, ""}));
    EXPECT_EQ(plan.mounts[1], (MountOp{MountOp::Kind::bind, kRoot, kRoot, MS_BIND, ""}));
    EXPECT_EQ(plan.mounts.back(), (MountOp{MountOp::Kind::pivot_root, "", kRoot, 0, ""}));
}

TEST(MountPlan, InputsAreBoundReadOnlyAtTheirLogicalPaths) {
    auto plan = plan_sandbox(basic_spec());
    for (std::string base :
         {std::string(kBusybox), std::string("avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt")}) {
        auto target = in_root("/nix/store/" + base);
        int bind = find_op(plan, MountOp::Kind::bind, target);
        ASSERT_GE(bind, 0) << base;
        EXPECT_EQ(plan.mounts[size_t(bind)].source, "/data/root/nix/store/" + base);
        EXPECT_EQ(plan.mounts[size_t(bind)].flags, static_cast<unsigned long>(MS_BIND | MS_REC));
        ASSERT_LT(size_t(bind) + 1, plan.mounts.size());
        EXPECT_EQ(plan.mounts[size_t(bind) + 1],
                  (MountOp{MountOp::Kind::remount_read_only, "", target,
                           MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, ""}));
    }
    // Mount points: a directory for the directory, a file for the file.
    EXPECT_EQ(find_entry(plan, std::string("/nix/store/") + kBusybox)->kind, FsEntry::Kind::directory);
    EXPECT_EQ(find_entry(plan, "/nix/store/avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt")->kind,
              FsEntry::Kind::file);
}

TEST(MountPlan, SymlinkInputIsRecreatedNotMounted) {
    auto spec = basic_spec();
    spec.inputs = {
        {"0c5k0mr2bwf8vp2ndk6dnh5qc5ai0mjz-link", SandboxInput::Kind::symlink, "/nix/store/x-target"}};
    auto plan = plan_sandbox(spec);
    auto* entry = find_entry(plan, "/nix/store/0c5k0mr2bwf8vp2ndk6dnh5qc5ai0mjz-link");
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(entry->kind, FsEntry::Kind::symlink);
    EXPECT_EQ(entry->content, "/nix/store/x-target");
    EXPECT_EQ(find_op(plan, MountOp::Kind::bind, in_root("/nix/store/0c5k0mr2bwf8vp2ndk6dnh5qc5ai0mjz-link")),
              -1);
}

TEST(MountPlan, LayoutIsNixs) {
    auto plan = plan_sandbox(basic_spec());
    EXPECT_EQ(plan.entries.front(), (FsEntry{FsEntry::Kind::directory, kRoot, "", 0750}));
    EXPECT_EQ(find_entry(plan, "/tmp")->mode, 01777u);
    EXPECT_EQ(find_entry(plan, "/nix")->mode, 0755u);
    EXPECT_EQ(find_entry(plan, "/nix/store")->mode, 01775u);
    EXPECT_EQ(find_entry(plan, "/etc/passwd")->content, "root:x:0:0:Nix build user:/build:/noshell\n"
                                                        "nixbld:x:1000:100:Nix build user:/build:/noshell\n"
                                                        "nobody:x:65534:65534:Nobody:/:/noshell\n");
    EXPECT_EQ(find_entry(plan, "/etc/group")->content, "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n");
    EXPECT_EQ(find_entry(plan, "/etc/hosts")->content, "127.0.0.1 localhost\n::1 localhost\n");
    EXPECT_EQ(find_entry(plan, "/etc/nsswitch.conf"), nullptr);
    for (auto [link, target] : {std::pair{"/dev/fd", "/proc/self/fd"},
                                {"/dev/stdin", "/proc/self/fd/0"},
                                {"/dev/stdout", "/proc/self/fd/1"},
                                {"/dev/stderr", "/proc/self/fd/2"},
                                {"/dev/ptmx", "/dev/pts/ptmx"}}) {
        auto* entry = find_entry(plan, link);
        ASSERT_NE(entry, nullptr) << link;
        EXPECT_EQ(entry->kind, FsEntry::Kind::symlink);
        EXPECT_EQ(entry->content, target);
    }
    // Each entry's parent comes before it.
    for (size_t i = 1; i < plan.entries.size(); ++i) {
        auto parent = plan.entries[i].path.substr(0, plan.entries[i].path.rfind('/'));
        auto it = std::find_if(plan.entries.begin(), plan.entries.end(),
                               [&](const FsEntry& e) { return e.path == parent; });
        ASSERT_NE(it, plan.entries.end()) << plan.entries[i].path;
        EXPECT_LT(size_t(it - plan.entries.begin()), i) << plan.entries[i].path;
    }
}

TEST(MountPlan, DevSubsetProcShmAndPts) {
    auto plan = plan_sandbox(basic_spec());
    for (const char* node :
         {"/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero"}) {
        int i = find_op(plan, MountOp::Kind::bind, in_root(node));
        ASSERT_GE(i, 0) << node;
        EXPECT_EQ(plan.mounts[size_t(i)].source, node);
    }
    EXPECT_EQ(find_op(plan, MountOp::Kind::bind, in_root("/dev/kvm")), -1);
    int proc = find_op(plan, MountOp::Kind::mount_fs, in_root("/proc"));
    ASSERT_GE(proc, 0);
    EXPECT_EQ(plan.mounts[size_t(proc)].source, "proc");
    int shm = find_op(plan, MountOp::Kind::mount_fs, in_root("/dev/shm"));
    ASSERT_GE(shm, 0);
    EXPECT_EQ(plan.mounts[size_t(shm)].data, "size=50%");
    int pts = find_op(plan, MountOp::Kind::mount_fs, in_root("/dev/pts"));
    ASSERT_GE(pts, 0);
    EXPECT_EQ(plan.mounts[size_t(pts)].data, "newinstance,mode=0620");
    EXPECT_EQ(plan.mounts[size_t(pts) + 1],
              (MountOp{MountOp::Kind::chmod, "", in_root("/dev/pts/ptmx"), 0666, ""}));
    int build = find_op(plan, MountOp::Kind::bind, in_root("/build"));
    ASSERT_GE(build, 0);
    EXPECT_EQ(plan.mounts[size_t(build)].source, "/scratch/build");
}

TEST(MountPlan, HostWithoutShmPtsButWithKvm) {
    auto spec = basic_spec();
    spec.host.has_dev_shm = false;
    spec.host.has_devpts_ptmx = false;
    spec.host.has_kvm = true;
    auto plan = plan_sandbox(spec);
    EXPECT_EQ(find_op(plan, MountOp::Kind::mount_fs, in_root("/dev/shm")), -1);
    EXPECT_EQ(find_op(plan, MountOp::Kind::mount_fs, in_root("/dev/pts")), -1);
    EXPECT_EQ(find_entry(plan, "/dev/ptmx"), nullptr);
    EXPECT_GE(find_op(plan, MountOp::Kind::bind, in_root("/dev/kvm")), 0);
}

TEST(MountPlan, FixedOutputSeesCopiesOfTheHostsNetworkFiles) {
    auto spec = basic_spec();
    spec.private_network = false;
    spec.network_etc = {{"/etc/resolv.conf", "nameserver 192.0.2.1\n"}, {"/etc/hosts", "192.0.2.2 host\n"}};
    auto plan = plan_sandbox(spec);
    EXPECT_EQ(find_entry(plan, "/etc/nsswitch.conf")->content, "hosts: files dns\nservices: files\n");
    for (const auto& [file, content] : spec.network_etc) {
        auto* entry = find_entry(plan, file);
        ASSERT_NE(entry, nullptr) << file;
        EXPECT_EQ(*entry, (FsEntry{FsEntry::Kind::file, in_root(file), content, 0444}));
        EXPECT_EQ(find_op(plan, MountOp::Kind::bind, in_root(file)), -1) << "a bind of the host's " << file;
    }
}

TEST(MountPlan, NothingOfTheHostIsBoundWritable) {
    auto spec = basic_spec();
    spec.private_network = false;
    spec.network_etc = {{"/etc/hosts", "x"}};
    spec.extra_binds = {{"/opt/data", "/host/data", true}, {"/etc/ssl/cert.pem", "/host/cert.pem", false}};
    auto plan = plan_sandbox(spec);
    for (size_t i = 0; i < plan.mounts.size(); ++i) {
        const auto& op = plan.mounts[i];
        if (op.kind != MountOp::Kind::bind || op.source == op.target) continue;
        bool own = op.source == "/scratch/build" || op.source.rfind("/dev/", 0) == 0;
        if (own) continue; // the build's own directory, device nodes (and /dev/null over /proc files)
        ASSERT_LT(i + 1, plan.mounts.size()) << op.describe();
        EXPECT_EQ(plan.mounts[i + 1].kind, MountOp::Kind::remount_read_only) << op.describe();
        EXPECT_EQ(plan.mounts[i + 1].target, op.target);
        EXPECT_TRUE(plan.mounts[i + 1].flags & MS_RDONLY) << op.describe();
    }
    // sandbox-paths may be devices: read-only and nosuid, but not nodev.
    int data = find_op(plan, MountOp::Kind::remount_read_only, in_root("/opt/data"));
    ASSERT_GE(data, 0);
    EXPECT_EQ(plan.mounts[size_t(data)].flags,
              static_cast<unsigned long>(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID));
}

TEST(MountPlan, ProcKnobsAreReadOnlyAndInternalsMasked) {
    auto plan = plan_sandbox(basic_spec());
    int proc = find_op(plan, MountOp::Kind::mount_fs, in_root("/proc"));
    ASSERT_GE(proc, 0);
    for (const char* path : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}) {
        int bind = find_op(plan, MountOp::Kind::bind, in_root(path));
        ASSERT_GT(bind, proc) << path;
        EXPECT_EQ(plan.mounts[size_t(bind)].source, in_root(path)) << path;
        EXPECT_EQ(plan.mounts[size_t(bind) + 1],
                  (MountOp{MountOp::Kind::remount_read_only, "", in_root(path),
                           MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, "", true}))
            << path;
    }
    for (const char* path :
         {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/latency_stats", "/proc/sched_debug"}) {
        int mask = find_op(plan, MountOp::Kind::bind, in_root(path));
        ASSERT_GT(mask, proc) << path;
        EXPECT_EQ(plan.mounts[size_t(mask)].source, "/dev/null");
        EXPECT_TRUE(plan.mounts[size_t(mask)].optional);
    }
    for (const char* path : {"/proc/acpi", "/proc/scsi"}) {
        int mask = find_op(plan, MountOp::Kind::mount_fs, in_root(path));
        ASSERT_GT(mask, proc) << path;
        EXPECT_EQ(plan.mounts[size_t(mask)].source, "tmpfs");
        EXPECT_TRUE(plan.mounts[size_t(mask)].flags & MS_RDONLY);
    }
    EXPECT_LT(find_op(plan, MountOp::Kind::bind, in_root("/proc/sys")),
              find_op(plan, MountOp::Kind::pivot_root, kRoot));
}

TEST(MountPlan, BindsAreSortedByTarget) {
    auto spec = basic_spec();
    spec.extra_binds = {
        {"/usr/lib/x", "/host/x", true}, {"/usr", "/host/usr", true}, {"/bin/sh", "/host/sh", false}};
    auto plan = plan_sandbox(spec);
    std::vector<std::string> targets;
    for (const auto& op : plan.mounts)
        if (op.kind == MountOp::Kind::bind && op.flags == (MS_BIND | MS_REC) && !op.optional)
            targets.push_back(op.target);
    EXPECT_TRUE(std::is_sorted(targets.begin(), targets.end()));
    EXPECT_LT(find_op(plan, MountOp::Kind::bind, in_root("/usr")),
              find_op(plan, MountOp::Kind::bind, in_root("/usr/lib/x")));
    EXPECT_EQ(find_entry(plan, "/bin/sh")->kind, FsEntry::Kind::file);
    EXPECT_EQ(find_entry(plan, "/usr/lib/x")->kind, FsEntry::Kind::directory);
}

TEST(MountPlan, HostDevReplacesTheSubset) {
    auto spec = basic_spec();
    spec.extra_binds = {{"/dev", "/dev", true}};
    auto plan = plan_sandbox(spec);
    EXPECT_EQ(find_op(plan, MountOp::Kind::bind, in_root("/dev/null")), -1);
    EXPECT_EQ(find_op(plan, MountOp::Kind::mount_fs, in_root("/dev/pts")), -1);
    EXPECT_EQ(find_entry(plan, "/dev/fd"), nullptr);
    EXPECT_GE(find_op(plan, MountOp::Kind::bind, in_root("/dev")), 0);
}

TEST(MountPlan, BadPathsAreRefused) {
    auto spec = basic_spec();
    spec.extra_binds = {{"/a/../etc", "/x", true}};
    EXPECT_THROW(plan_sandbox(spec), SandboxError);
    spec.extra_binds = {{"relative", "/x", true}};
    EXPECT_THROW(plan_sandbox(spec), SandboxError);
    spec = basic_spec();
    spec.inputs.push_back({"../escape", SandboxInput::Kind::directory, ""});
    EXPECT_THROW(plan_sandbox(spec), SandboxError);
}

TEST(MountPlan, DescribesOps) {
    EXPECT_EQ((MountOp{MountOp::Kind::bind, "/a", "/b", MS_BIND, ""}).describe(),
              "bind-mounting '/a' on '/b'");
    EXPECT_EQ((MountOp{MountOp::Kind::mount_fs, "proc", "/r/proc", 0, ""}).describe(),
              "mounting proc on '/r/proc'");
    EXPECT_EQ((MountOp{MountOp::Kind::remount_read_only, "", "/r/x", 0, ""}).describe(),
              "remounting '/r/x' read-only");
}

TEST(SandboxPaths, ParsesNixSyntax) {
    auto entries = parse_sandbox_paths({"/bin/sh=/nix/store/abc-bash/bin/bash", "/dev/kvm?", "", "/etc/ssl"});
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0], (SandboxPathEntry{"/bin/sh", "/nix/store/abc-bash/bin/bash", false}));
    EXPECT_EQ(entries[1], (SandboxPathEntry{"/dev/kvm", "/dev/kvm", true}));
    EXPECT_EQ(entries[2], (SandboxPathEntry{"/etc/ssl", "/etc/ssl", false}));
    EXPECT_THROW(parse_sandbox_paths({"relative"}), SandboxError);
    EXPECT_THROW(parse_sandbox_paths({"/a=relative"}), SandboxError);
}

TEST(EtcFiles, AreNixsWithTheBuildDir) {
    EXPECT_EQ(sandbox_etc_passwd("/build2"), "root:x:0:0:Nix build user:/build2:/noshell\n"
                                             "nixbld:x:1000:100:Nix build user:/build2:/noshell\n"
                                             "nobody:x:65534:65534:Nobody:/:/noshell\n");
}
