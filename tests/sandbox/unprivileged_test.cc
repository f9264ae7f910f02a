// The same sandbox tests, run again by an unprivileged user: the sandbox must not need root. As root,
// this creates a system user (once) and runs this very binary as that user with no supplementary
// groups and no capabilities; the inner run must pass.
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "ferry/sandbox/namespace_support.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUser = "ferry-sandbox-test";
constexpr const char* kInnerRun = "FERRY_SANDBOX_UNPRIVILEGED_RUN";

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// The test user, created when missing. Empty when it cannot be made.
const passwd* test_user(std::string& problem) {
    if (auto* pw = ::getpwnam(kUser)) return pw;
    std::string command = std::string("useradd --system --no-create-home --shell /usr/sbin/nologin ") +
                          kUser + " >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
        problem = "cannot create user '" + std::string(kUser) + "' with useradd";
        return nullptr;
    }
    return ::getpwnam(kUser);
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

    std::string problem;
    const passwd* user = test_user(problem);
    ASSERT_NE(user, nullptr) << problem;
    uid_t uid = user->pw_uid;
    gid_t gid = user->pw_gid;

    TempDir home(fs::temp_directory_path(), "ferry-unprivileged");
    ASSERT_EQ(::chown(home.path().c_str(), uid, gid), 0);
    auto log = home.path() / "inner.log";
    std::string command =
        "cd / && timeout 400 setpriv --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(gid) +
        " --clear-groups --inh-caps=-all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=" +
        shell_quote(home.path().string()) + " TMPDIR=" + shell_quote(home.path().string()) + " " + kInnerRun +
        "=1 FERRY_TEST_DATA=" + shell_quote(test::test_data_dir().string()) +
        " FERRY_FIXTURES=" + shell_quote(test::fixtures_dir().string()) + " " + shell_quote(self_path()) +
        " --gtest_filter=-Unprivileged.* > " + shell_quote(log.string()) + " 2>&1";
    int status = std::system(command.c_str());
    std::string output = fs::exists(log) ? read_file(log) : std::string("(no output)");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the sandbox tests failed as user " << kUser << " (uid " << uid << "); "
        << user_namespace_sysctls() << "\n"
        << output;
    EXPECT_NE(output.find("[  PASSED  ]"), std::string::npos) << output;
    EXPECT_EQ(output.find("[  FAILED  ]"), std::string::npos) << output;
}
