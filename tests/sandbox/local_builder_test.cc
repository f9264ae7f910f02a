// The unsandboxed builder (sandbox = false): host identity and file system, the logical store shown
// through a bind mount for a store with a physical root, leftovers killed, failures cleaned up.
#include "ferry/sandbox/local_builder.hh"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ferry/util/file.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;

TEST(LocalBuilder, BuildsWithTheHostsIdentityAndTheStoreAtItsLogicalPath) {
    FakeStore store;
    LocalBuilder builder;
    auto drv = store.shell_derivation("local-probe",
                                      "{ id -u; echo \"$NIX_BUILD_TOP\"; pwd; cat " + store.store_dir().print(store.busybox()) +
                                          "/bin/sh > /dev/null && echo store-visible; test -d /etc && echo host-etc; } > $out");
    auto job = store.job(drv);
    auto out = run_build(builder, job);
    auto text = read_file(out->locations.at("out"));
    auto uid = std::to_string(::geteuid());
    EXPECT_EQ(text.substr(0, text.find('\n')), uid) << text;
    // NIX_BUILD_TOP and the working directory are the real build directory on the host.
    EXPECT_NE(text.find("/nix-build-"), std::string::npos) << text;
    EXPECT_NE(text.find("store-visible\nhost-etc\n"), std::string::npos) << text;
    // The output was written through the logical path into the physical store directory.
    EXPECT_EQ(out->locations.at("out").parent_path(), store.real_store_dir());
}

TEST(LocalBuilder, ProcessesLeftBehindAreKilled) {
    FakeStore store;
    LocalBuilder builder;
    auto drv = store.shell_derivation("daemon", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > $out");
    auto job = store.job(drv);
    auto out = run_build(builder, job);
    auto pid = std::stoi(read_file(out->locations.at("out")));
    // Killed with the builder's process group; give the kernel a moment to reap it through init.
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        gone = ::kill(pid, 0) != 0;
        if (!gone) ::usleep(20000);
    }
    EXPECT_TRUE(gone) << "pid " << pid << " survived the build";
}

TEST(LocalBuilder, FailureRemovesPartialOutputs) {
    FakeStore store;
    LocalBuilder builder;
    auto drv = store.shell_derivation("fails", "echo partial > $out; echo oops >&2; exit 3");
    std::string log;
    auto job = store.job(drv, &log);
    try {
        run_build(builder, job);
        FAIL() << "no error";
    } catch (const BuildError& e) {
        EXPECT_NE(std::string(e.what()).find("failed with exit code 3"), std::string::npos) << e.what();
    }
    EXPECT_NE(log.find("oops"), std::string::npos);
    for (const auto& [_, path] : job.outputs) EXPECT_FALSE(std::filesystem::exists(store.real_store_dir() / path.to_string()));
}
