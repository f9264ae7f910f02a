// Nix's command-line habits: global options before or after the subcommand, setting flags, -v/--quiet,
// --version.
#include <gtest/gtest.h>

#include "cli_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

struct OptionsTest : CliTest {
    fs::path marker = tmp.path() / "marker";

    OptionsTest() {
        write_file_atomic(marker, "on the host\n");
        // As root the unsandboxed builder is a build user: it must be able to see the marker.
        fs::permissions(tmp.path(), fs::perms(0755));
    }

    /// A derivation that writes "host" when it can see a file of the host (no sandbox), else "sandbox".
    std::string where_derivation(const std::string& name) {
        return busybox_derivation(tmp.path(), name,
                                  "if [ -e " + marker.string() +
                                      " ]; then echo host > $out; else echo sandbox > $out; fi");
    }

    /// What the output printed by a successful realise holds.
    std::string output_of(const FerryResult& r) {
        EXPECT_EQ(r.status, 0) << r.err;
        auto lines = lines_of(r.out);
        if (lines.size() != 1) return "(" + r.out + ")";
        return read_file(config.real_store_dir() / fs::path(lines[0]).filename());
    }
};

} // namespace

TEST_F(OptionsTest, GlobalOptionsBeforeOrAfterTheSubcommand) {
    import_busybox();
    // ferry() puts --store ROOT first; the other global options go where a Nix user types them.
    EXPECT_EQ(output_of(ferry({"realise", where_derivation("after"), "--option", "sandbox", "false"})),
              "host\n");
    EXPECT_EQ(output_of(ferry({"--option", "sandbox", "false", "realise", where_derivation("before")})),
              "host\n");
    EXPECT_EQ(output_of(ferry({"realise", "--no-sandbox", where_derivation("flag")})), "host\n");
    EXPECT_EQ(output_of(ferry({"--no-sandbox", "realise", "--sandbox", where_derivation("last-wins")})),
              "sandbox\n");
    EXPECT_EQ(output_of(run_ferry(
                  {"realise", "--store", root.string(), "-j", "auto", where_derivation("store-after")})),
              "sandbox\n");
    EXPECT_EQ(output_of(run_ferry({"build", "--no-out-link", where_derivation("store-last"), "--store",
                                   root.string(), "-v", "--max-jobs", "2", "-k"})),
              "sandbox\n");
}

TEST_F(OptionsTest, SettingFlagsAsNixs) {
    auto r = ferry({"show-config", "--max-jobs", "3", "--no-require-sigs", "--extra-substituters", "http://b",
                    "--substituters", "http://a", "-k"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto lines = lines_of(r.out);
    auto has = [&](const std::string& line) {
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    };
    EXPECT_TRUE(has("max-jobs = 3")) << r.out;
    EXPECT_TRUE(has("require-sigs = false")) << r.out;
    EXPECT_TRUE(has("substituters = http://a")) << "the command line is applied in its order: " << r.out;
    EXPECT_TRUE(has("keep-going = true")) << r.out;
    auto appended = ferry({"--substituters", "http://a", "show-config", "--extra-substituters", "http://b"});
    EXPECT_NE(appended.out.find("\nsubstituters = http://a http://b\n"), std::string::npos) << appended.out;
    auto jobs = ferry({"-j", "auto", "show-config"});
    EXPECT_NE(jobs.out.find("\nmax-jobs = auto\n"), std::string::npos) << jobs.out;
    auto none = ferry({"-j", "0", "show-config"});
    EXPECT_NE(none.out.find("\nmax-jobs = 0\n"), std::string::npos) << "0: nothing built here" << none.out;
    auto remote = ferry({"show-config", "--builders", "ssh://a x86_64-linux", "--builders-use-substitutes"});
    EXPECT_NE(remote.out.find("\nbuilders = ssh://a x86_64-linux\n"), std::string::npos) << remote.out;
    EXPECT_NE(remote.out.find("\nbuilders-use-substitutes = true\n"), std::string::npos) << remote.out;
}

TEST_F(OptionsTest, UnknownSettingOnTheCommandLineIsAWarning) {
    auto r = ferry({"--option", "trusted-users", "root", "show-config"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "warning: unknown setting 'trusted-users'\n");
    auto bad = ferry({"show-config", "--option", "require-sigs", "maybe"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_EQ(bad.err, "ferry: option 'require-sigs' must be true or false, not 'maybe'\n");
    auto missing = ferry({"show-config", "--option", "cores"});
    EXPECT_EQ(missing.status, 2) << missing.err;
}

TEST_F(OptionsTest, VerbosityChangesWhatIsLogged) {
    import_busybox();
    fs::create_directories(env_dir() / "etc-nix");
    auto nix_conf = env_dir() / "etc-nix" / "nix.conf";
    write_file_atomic(nix_conf, "trusted-users = root\n");
    auto build = [&](const std::string& name, std::vector<std::string> flags) {
        std::vector<std::string> args{"build", "--no-out-link",
                                      busybox_derivation(tmp.path(), name, "echo > $out")};
        args.insert(args.end(), flags.begin(), flags.end());
        auto r = ferry(args);
        EXPECT_EQ(r.status, 0) << r.err;
        return r.err;
    };
    const std::string building = "building '", read = "read configuration file '" + nix_conf.string() + "'\n",
                      ignored = nix_conf.string() + ":1: ignoring unknown setting 'trusted-users'\n";
    auto normal = build("normal", {});
    EXPECT_NE(normal.find(building), std::string::npos) << normal;
    EXPECT_EQ(normal.find(read), std::string::npos) << normal;
    auto quiet = build("quiet", {"--quiet"});
    EXPECT_EQ(quiet, "") << "nothing but warnings and errors";
    auto verbose = build("verbose", {"-v"});
    EXPECT_NE(verbose.find(read), std::string::npos) << verbose;
    EXPECT_EQ(verbose.find(ignored), std::string::npos) << verbose;
    auto debug = build("debug", {"-vvv"});
    EXPECT_NE(debug.find(ignored), std::string::npos) << debug;
    EXPECT_NE(build("debug-flag", {"--debug"}).find(ignored), std::string::npos);
    // In order, as Nix counts them: -v then --quiet is the default again.
    auto back = build("back", {"-v", "--quiet"});
    EXPECT_NE(back.find(building), std::string::npos) << back;
    EXPECT_EQ(back.find(read), std::string::npos) << back;
    // Nix's levels: from info, --quiet twice is still "warn"; a third time, only errors are left.
    auto warned = ferry({"--quiet", "--quiet", "--option", "no-such", "1", "show-config"});
    EXPECT_EQ(warned.err, "warning: unknown setting 'no-such'\n");
    EXPECT_EQ(ferry({"--quiet", "--quiet", "--quiet", "--option", "no-such", "1", "show-config"}).err, "");
}

TEST_F(OptionsTest, Version) {
    auto r = run_ferry({"--version"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "ferry " FERRY_VERSION "\n");
}
