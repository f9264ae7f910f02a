// Nix's exit statuses from real failing builds: 100 a build failed, 101 it timed out, 102 a fixed-output
// hash mismatch, 104 not deterministic (--check), OR-ed with --keep-going (Nix 2.8's
// Worker::exitStatus); 1 for other failures.
#include <gtest/gtest.h>

#include "cli_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

// sha256 of "hello\n", and a wrong one.
const std::string kHelloSha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
const std::string kWrongSha256(64, '0');

struct ExitCodeTest : CliTest {
    ExitCodeTest() { import_busybox(); }

    FerryResult build(std::vector<std::string> args) {
        args.insert(args.begin(), {"build", "--no-out-link"});
        return ferry(args);
    }
    std::string failing(const std::string& name) { return busybox_derivation(tmp.path(), name, "exit 3"); }
    std::string sleeping(const std::string& name) {
        return busybox_derivation(tmp.path(), name, "$bb/busybox sleep 30; echo > $out");
    }
    std::string mismatching(const std::string& name) {
        return fixed_output_derivation(tmp.path(), name, "echo hello > $out", kWrongSha256);
    }
};

} // namespace

TEST_F(ExitCodeTest, BuildFailureIs100) {
    auto r = build({failing("fails")});
    EXPECT_EQ(r.status, 100) << r.err;
    EXPECT_NE(r.err.find("error: builder for '"), std::string::npos) << r.err;
}

TEST_F(ExitCodeTest, TimeoutIs101) {
    auto timeout = build({sleeping("slow"), "--option", "timeout", "1"});
    EXPECT_EQ(timeout.status, 101) << timeout.err;
    EXPECT_NE(timeout.err.find("timed out after 1 seconds"), std::string::npos) << timeout.err;
    auto silent = build({"--max-silent-time", "1", sleeping("silent")});
    EXPECT_EQ(silent.status, 101) << silent.err;
    EXPECT_NE(silent.err.find("timed out after 1 seconds of silence"), std::string::npos) << silent.err;
}

TEST_F(ExitCodeTest, HashMismatchIs102) {
    auto r = build({mismatching("wrong-hash")});
    EXPECT_EQ(r.status, 102) << r.err;
    EXPECT_NE(r.err.find("hash mismatch in fixed-output derivation"), std::string::npos) << r.err;
    // The right hash builds.
    auto right =
        build({fixed_output_derivation(tmp.path(), "right-hash", "echo hello > $out", kHelloSha256)});
    EXPECT_EQ(right.status, 0) << right.err;
}

TEST_F(ExitCodeTest, NotDeterministicIs104) {
    auto random =
        busybox_derivation(tmp.path(), "random", "$bb/busybox cat /proc/sys/kernel/random/uuid > $out");
    ASSERT_EQ(build({random}).status, 0);
    auto r = build({"--check", random});
    EXPECT_EQ(r.status, 104) << r.err;
    EXPECT_NE(r.err.find("may not be deterministic"), std::string::npos) << r.err;
}

// With --keep-going every failure counts, its bits OR-ed as Nix does: a failure and a timeout give 101
// (0x60 | 0x04 | 0x01); with a hash mismatch too, 103 (0x60 | 0x04 | 0x01 | 0x02).
TEST_F(ExitCodeTest, KeepGoingCombinesAsNix) {
    auto two = build({"-k", "-j", "3", "--timeout", "1", failing("f1"), sleeping("s1")});
    EXPECT_EQ(two.status, 101) << two.err;
    EXPECT_NE(two.err.find("2 targets failed"), std::string::npos) << two.err;
    auto three = build({"-k", "-j", "3", "--timeout", "1", failing("f2"), sleeping("s2"), mismatching("m2")});
    EXPECT_EQ(three.status, 103) << three.err;
    auto mismatch_and_failure = build({"--keep-going", failing("f3"), mismatching("m3")});
    EXPECT_EQ(mismatch_and_failure.status, 102) << mismatch_and_failure.err;
}

// As in Nix: a builder of a fixed-output derivation that fails is a transient failure, an output the
// builder did not make is a rejected one; neither is a "build failure" (100), so 1.
TEST_F(ExitCodeTest, OtherFailuresAre1) {
    auto fod = build({fixed_output_derivation(tmp.path(), "fod-fails", "exit 3", kHelloSha256)});
    EXPECT_EQ(fod.status, 1) << fod.err;
    auto no_output = build({busybox_derivation(tmp.path(), "no-output", "true")});
    EXPECT_EQ(no_output.status, 1) << no_output.err;
    EXPECT_NE(no_output.err.find("failed to produce output path"), std::string::npos) << no_output.err;
    auto not_a_path = build({"/nix/store/00000000000000000000000000000000-nothing"});
    EXPECT_EQ(not_a_path.status, 1) << not_a_path.err;
}
