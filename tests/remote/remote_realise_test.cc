// `ferry build --builders … --max-jobs 0`: the whole compat graph built on another machine reached over
// real sshd, once on Debian's `nix-store --serve --write` and once on `ferry serve --write`. Every output
// comes back bit for bit (its NAR hash, size and references are Nix 2.8's) and is valid here; the remote
// store holds the outputs too; nothing was built on this machine.

#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "remote_fixture.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"

namespace fs = std::filesystem;

namespace ferry::test {
namespace {

class RemoteRealiseTest : public RemoteFixture, public ::testing::WithParamInterface<const char*> {
protected:
    std::string serve_command(const std::string& name) const {
        return std::string(GetParam()) == "nix" ? nix_serve_command(name) : ferry_serve_command(name);
    }
};

TEST_P(RemoteRealiseTest, CompatGraphBuildsRemotelyWithMaxJobsZero) {
    SshServer sshd(serve_command("remote"));
    // Nix's machine line: URI, systems, key, max jobs, speed, features, mandatory features, host key.
    std::string builders =
        sshd.uri() + " x86_64-linux " + sshd.user_key().string() + " 2 1 - - " + sshd.host_key_base64();
    isolate_config_environment(work_.path());
    std::vector<std::string> args{"--store",    local_.config.effective_root().string(),
                                  "build",      "--no-out-link",
                                  "--max-jobs", "0",
                                  "--builders", builders};
    for (const auto& e : fs::directory_iterator(compat_dir() / "drv"))
        args.push_back(e.path().string());
    auto r = run_ferry(args);
    ASSERT_EQ(r.status, 0) << r.err << sshd.log();
    std::set<std::string> outputs;
    for (size_t pos = 0, nl; (nl = r.out.find('\n', pos)) != std::string::npos; pos = nl + 1)
        outputs.insert(r.out.substr(pos, nl - pos));
    EXPECT_EQ(outputs.size(), 13u) << r.out;
    for (const auto& path : outputs) {
        auto expected = to_path_info(dir_, fixture_info(path));
        auto got = local_info(path);
        EXPECT_EQ(got.nar_hash.to_nix32_prefixed(), expected.nar_hash.to_nix32_prefixed()) << path;
        EXPECT_EQ(got.nar_size, expected.nar_size) << path;
        EXPECT_EQ(got.references, expected.references) << path;
        // Built there: the remote store has it.
        EXPECT_TRUE(fs::exists(remote_root("remote") / path.substr(1))) << path;
    }
    // Every build ran on the machine: its log names it (Nix's "building '…' on '…'" line).
    EXPECT_NE(r.err.find("on '" + sshd.uri() + "'"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Peer, RemoteRealiseTest, ::testing::Values("nix", "ferry"));

} // namespace
} // namespace ferry::test
