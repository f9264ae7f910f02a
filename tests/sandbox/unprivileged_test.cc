// The same sandbox tests, run again by an unprivileged user: the sandbox must not need root. As root,
// this runs this very binary under a uid and gid that no account has (so nothing is created on the host
// and nothing is left behind), with no supplementary groups and no capabilities; the inner run must pass.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "ferry/sandbox/build_user.hh"
#include "ferry/sandbox/namespace_support.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

constexpr const char* kInnerRun = "FERRY_SANDBOX_UNPRIVILEGED_RUN";

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// A uid (and the same gid) of no account and of no running process, below the auto-allocated range.
uid_t unused_id() {
    for (uid_t id = 700000000 + uid_t(::getpid()) % 100000 * 100;; ++id)
        if (!::getpwuid(id) && !::getgrgid(id) && !uid_has_processes(id)) return id;
}

std::string self_path() {
    return fs::read_symlink("/proc/self/exe").string();
}

} // namespace

TEST(Unprivileged, SandboxTestsPassAsAnUnprivilegedUser) {
    if (std::getenv(kInnerRun)) GTEST_SKIP() << "this is the unprivileged run";
    if (::geteuid() != 0)
        GTEST_SKIP() << "not root, so no other user to switch to; this run itself is unprivileged ("
                     << user_namespace_sysctls() << ")";

    uid_t uid = unused_id();
    gid_t gid = uid;

    TempDir home(fs::temp_directory_path(), "ferry-unprivileged");
    ASSERT_EQ(::chown(home.path().c_str(), uid, gid), 0);
    auto log = home.path() / "inner.log";
    std::string command =
        "cd / && timeout 400 setpriv --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(gid) +
        " --clear-groups --inh-caps=-all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=" +
        shell_quote(home.path().string()) + " TMPDIR=" + shell_quote(home.path().string()) + " " + kInnerRun +
        "=1 FERRY_TEST_DATA=" + shell_quote(test::test_data_dir().string()) +
        " FERRY_FIXTURES=" + shell_quote(test::fixtures_dir().string()) + " " + shell_quote(self_path()) +
        " --gtest_filter=-Unprivileged.*" + (GTEST_FLAG_GET(shuffle) ? " --gtest_shuffle" : "") + " > " +
        shell_quote(log.string()) + " 2>&1";
    int status = std::system(command.c_str());
    std::string output = fs::exists(log) ? read_file(log) : std::string("(no output)");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the sandbox tests failed as uid " << uid << "; " << user_namespace_sysctls() << "\n"
        << output;
    EXPECT_NE(output.find("[  PASSED  ]"), std::string::npos) << output;
    EXPECT_EQ(output.find("[  FAILED  ]"), std::string::npos) << output;
}
