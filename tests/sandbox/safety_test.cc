// A hostile builder (tests/data/sandbox/hostile.sh) against the sandbox and, as root, the unsandboxed
// builder: it tries to write host sysctls, core_pattern, sysrq-trigger and the host's /etc/hosts, to
// mknod, mount, remount /proc/sys, to regain privileges in a nested user namespace and try again, and to
// read a file only root may read, to signal a process of the host or read its environment (the ptrace
// access check). Every attempt must fail inside the build and leave the host as it was.
// Nothing is ever written: files are opened for writing only.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>

#include "ferry/sandbox/local_builder.hh"
#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/util/file.hh"
#include "sandbox_fixture.hh"
#include "support/fixtures.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

bool root() {
    return ::geteuid() == 0;
}

/// What the host must still have after the builds.
struct HostState {
    std::string swappiness = read_file("/proc/sys/vm/swappiness");
    std::string core_pattern = read_file("/proc/sys/kernel/core_pattern");
    std::string hosts = fs::exists("/etc/hosts") ? read_file("/etc/hosts") : "";
    friend bool operator==(const HostState&, const HostState&) = default;
};

/// A file only root may read (as root; unprivileged, the builder is the caller and may read the
/// caller's files, so there is none).
struct Secret {
    std::optional<TempDir> dir;
    std::string path;
    Secret() {
        if (!root()) return;
        dir.emplace();
        ::chmod(dir->path().c_str(), 0755);
        path = (dir->path() / "secret").string();
        write_file_atomic(path, "only root\n", 0600);
    }
};

std::map<std::string, std::string> attempts(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto colon = line.rfind(": ");
        if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
    }
    return out;
}

/// Builds the hostile derivation (fixed-output when `fixed`, so it keeps the host network and its /etc
/// files) with `builder`, and checks every attempt was refused.
void expect_all_refused(Builder& builder, FakeStore& store, const Secret& secret, bool fixed,
                        const std::string& what) {
    SCOPED_TRACE(what);
    auto script = read_file(test_data_dir() / "sandbox/hostile.sh");
    std::map<std::string, std::string> env{{"secret", secret.path}, {"hostPid", std::to_string(::getpid())}};
    Derivation drv = store.shell_derivation("hostile", script, env);
    if (fixed) {
        // The builder does not check the declared hash (registering the outputs does), so any will do.
        drv = store.fixed_output_derivation("hostile-fixed", script, "");
        drv.env["secret"] = secret.path;
        drv.env["hostPid"] = std::to_string(::getpid());
        ASSERT_TRUE(drv.is_fixed_output());
    }
    HostState before;
    auto job = store.job(drv);
    auto text = read_file(run_build(builder, job)->locations.at("out"));
    auto results = attempts(text);
    size_t expected = 16 + (secret.path.empty() ? 0 : 2);
    EXPECT_EQ(results.size(), expected) << text;
    for (const auto& [attempt, result] : results) {
        if (attempt == "nested root") continue;
        // Unprivileged, the sandbox's own generated /etc/hosts is the caller's, as all of its root is (a
        // fixed-output build's copy of the host's is read-only); the host's stays untouched (below).
        if (attempt == "write /etc/hosts" && !root() && !fixed && dynamic_cast<SandboxBuilder*>(&builder))
            continue;
        EXPECT_EQ(result, "refused") << attempt;
    }
    EXPECT_EQ(results["nested root"], "yes") << "the nested attempts must start as root of a user namespace";
    EXPECT_TRUE(HostState() == before) << "the host's sysctls or /etc/hosts changed";
}

} // namespace

TEST(Safety, TheSandboxRefusesEveryHostileAttempt) {
    FakeStore store;
    Secret secret;
    auto options = store.options();
    if (!secret.path.empty()) options.sandbox_paths = {secret.path};
    SandboxBuilder builder(options);
    expect_all_refused(builder, store, secret, false, "sandboxed");
}

TEST(Safety, TheSandboxRefusesEveryHostileAttemptOfAFixedOutputDerivation) {
    FakeStore store;
    Secret secret;
    auto options = store.options();
    if (!secret.path.empty()) options.sandbox_paths = {secret.path};
    SandboxBuilder builder(options);
    expect_all_refused(builder, store, secret, true, "fixed-output, sandboxed");
}

TEST(Safety, AsRootTheUnsandboxedBuilderRefusesEveryHostileAttempt) {
    if (!root()) GTEST_SKIP() << "unprivileged, the unsandboxed builder is the caller";
    FakeStore store;
    Secret secret;
    TestBuildUsers users;
    LocalBuilder builder(users.options(true));
    expect_all_refused(builder, store, secret, false, "unsandboxed");
    expect_all_refused(builder, store, secret, true, "fixed-output, unsandboxed");
}

TEST(Safety, FixedOutputBuildsSeeCopiesNotTheHostsEtcFiles) {
    FakeStore store;
    auto drv = store.fixed_output_derivation(
        "etc-copies",
        "{ cat /etc/hosts; grep -c ' /etc/' /proc/self/mountinfo; stat -c '%a' /etc/hosts; } > $out", "");
    auto job = store.job(drv);
    SandboxBuilder builder(store.options());
    std::string hosts = fs::exists("/etc/hosts") ? read_file("/etc/hosts") : "";
    EXPECT_EQ(read_file(run_build(builder, job)->locations.at("out")),
              hosts + "0\n" + (hosts.empty() ? "" : "444\n"))
        << "the host's /etc/hosts, copied (no mount under /etc), read-only";
}

TEST(Safety, TheSandboxsUidMapsToAnUnprivilegedHostId) {
    FakeStore store;
    auto drv = store.shell_derivation("uid-map", "cat /proc/self/uid_map /proc/self/gid_map > $out");
    auto job = store.job(drv);
    SandboxBuilder builder(store.options());
    auto out = run_build(builder, job);
    std::istringstream maps(read_file(out->locations.at("out")));
    uint64_t inside = 0, host_uid = 0, count = 0, inside_gid = 0, host_gid = 0, gid_count = 0;
    maps >> inside >> host_uid >> count >> inside_gid >> host_gid >> gid_count;
    EXPECT_EQ(inside, 1000u);
    EXPECT_EQ(count, 1u);
    EXPECT_EQ(inside_gid, 100u);
    if (root()) {
        EXPECT_NE(host_uid, 0u) << "the builder is host root";
        EXPECT_NE(host_uid, uint64_t(::geteuid()));
        EXPECT_NE(host_gid, 0u);
        BuildUserOptions defaults;
        EXPECT_GE(host_uid, defaults.start_id);
        EXPECT_LT(host_uid, uint64_t(defaults.start_id) + defaults.id_count);
        EXPECT_EQ(host_gid, host_uid) << "auto-allocated ids use the same number as gid";
    } else {
        EXPECT_EQ(host_uid, uint64_t(::geteuid()));
        EXPECT_EQ(host_gid, uint64_t(::getegid()));
    }
}
