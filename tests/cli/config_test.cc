// Nix's configuration: nix.conf (NIX_CONF_DIR, XDG_CONFIG_DIRS, XDG_CONFIG_HOME), includes, extra-,
// NIX_CONFIG, then ferry.conf, then the command line; as `ferry show-config` shows them and builds use them.
#include <cstdlib>
#include <map>

#include <gtest/gtest.h>

#include "cli_fixture.hh"
#include "support/fixtures.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

struct ConfigTest : CliTest {
    fs::path nix_conf = env_dir() / "etc-nix" / "nix.conf";         // NIX_CONF_DIR
    fs::path xdg_conf = env_dir() / "xdg" / "nix" / "nix.conf";     // XDG_CONFIG_DIRS
    fs::path home_conf = env_dir() / "config" / "nix" / "nix.conf"; // XDG_CONFIG_HOME
    fs::path ferry_conf = env_dir() / "config" / "ferry" / "ferry.conf";

    void write(const fs::path& file, std::string_view text) {
        fs::create_directories(file.parent_path());
        write_file_atomic(file, text);
    }

    /// `show-config --origin` with `args` before it: setting name → "value # origin".
    std::map<std::string, std::string> show(std::vector<std::string> args = {}) {
        args.insert(args.end(), {"show-config", "--origin"});
        auto r = ferry(args);
        EXPECT_EQ(r.status, 0) << r.err;
        std::map<std::string, std::string> out;
        for (const auto& line : lines_of(r.out)) {
            auto eq = line.find(" = ");
            if (line.starts_with("#") || eq == std::string::npos) continue;
            out[line.substr(0, eq)] = line.substr(eq + 3);
        }
        return out;
    }
};

} // namespace

TEST_F(ConfigTest, WithNoConfigurationEverythingIsADefault) {
    auto shown = ferry({"show-config"});
    ASSERT_EQ(shown.status, 0) << shown.err;
    EXPECT_NE(shown.out.find("http-connections = 150\n"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find("sandbox-paths = \n"), std::string::npos) << "as nix show-config prints it";
    for (const auto& [name, value] : show())
        EXPECT_TRUE(value.ends_with(" # default")) << name << " = " << value;
}

TEST_F(ConfigTest, NixConfFromNixConfDirWithIncludes) {
    write(nix_conf, "# the system's\ncores = 3\ninclude more/extra.conf\n!include missing.conf\n");
    write(nix_conf.parent_path() / "more" / "extra.conf", "timeout = 7\n!include ../../also-missing.conf\n");
    auto s = show();
    EXPECT_EQ(s["cores"], "3 # " + nix_conf.string() + ":2");
    EXPECT_EQ(s["timeout"], "7 # " + (nix_conf.parent_path() / "more" / "extra.conf").string() + ":1");

    write(nix_conf, "cores = 3\ninclude absent.conf\n");
    auto r = ferry({"show-config"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "error: " + nix_conf.string() + ":2: included file '" +
                         (nix_conf.parent_path() / "absent.conf").string() + "' not found\n");
}

TEST_F(ConfigTest, UserNixConfFromXdgDirectories) {
    write(xdg_conf, "cores = 4\nmax-silent-time = 40\n");
    auto s = show();
    EXPECT_EQ(s["cores"], "4 # " + xdg_conf.string() + ":1");
    write(home_conf, "cores = 5\n");
    s = show();
    EXPECT_EQ(s["cores"], "5 # " + home_conf.string() + ":1") << "XDG_CONFIG_HOME before XDG_CONFIG_DIRS";
    EXPECT_EQ(s["max-silent-time"], "40 # " + xdg_conf.string() + ":2");
}

TEST_F(ConfigTest, NixConfigVariable) {
    write(home_conf, "cores = 5\n");
    ::setenv("NIX_CONFIG", "timeout = 9\ncores = 6", 1);
    auto s = show();
    EXPECT_EQ(s["cores"], "6 # NIX_CONFIG:2");
    EXPECT_EQ(s["timeout"], "9 # NIX_CONFIG:1");
    ::setenv("NIX_CONFIG", "cores = lots", 1);
    auto r = ferry({"show-config"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "error: NIX_CONFIG:1: option 'cores' must be a non-negative integer, not 'lots'\n");
}

TEST_F(ConfigTest, ExtraAppendsAcrossFiles) {
    write(nix_conf, "substituters = http://system\ntrusted-public-keys = a:1\n");
    write(home_conf, "extra-substituters = http://user\nextra-trusted-public-keys = b:2\n");
    ::setenv("NIX_CONFIG", "extra-substituters = http://env", 1);
    auto s = show({"--extra-substituters", "http://cli"});
    EXPECT_EQ(s["substituters"], "http://system http://user http://env http://cli # " + nix_conf.string() +
                                     ":1, " + home_conf.string() + ":1, NIX_CONFIG:1, --extra-substituters");
    EXPECT_EQ(s["trusted-public-keys"],
              "a:1 b:2 # " + nix_conf.string() + ":2, " + home_conf.string() + ":2");
}

TEST_F(ConfigTest, FerryConfAfterNixsThenTheCommandLine) {
    write(nix_conf,
          "cores = 1\ntimeout = 1\nmax-silent-time = 1\nhttp-connections = 1\ndownload-attempts = 1\n");
    write(xdg_conf, "timeout = 2\nmax-silent-time = 2\nhttp-connections = 2\ndownload-attempts = 2\n");
    write(home_conf, "max-silent-time = 3\nhttp-connections = 3\ndownload-attempts = 3\n");
    ::setenv("NIX_CONFIG", "http-connections = 4\ndownload-attempts = 4", 1);
    write(ferry_conf, "download-attempts = 5\nstalled-download-timeout = 5\n");
    auto s = show({"--option", "stalled-download-timeout", "6", "--stalled-download-timeout", "7"});
    EXPECT_EQ(s["cores"], "1 # " + nix_conf.string() + ":1");
    EXPECT_EQ(s["timeout"], "2 # " + xdg_conf.string() + ":1");
    EXPECT_EQ(s["max-silent-time"], "3 # " + home_conf.string() + ":1");
    EXPECT_EQ(s["http-connections"], "4 # NIX_CONFIG:1");
    EXPECT_EQ(s["download-attempts"], "5 # " + ferry_conf.string() + ":1");
    EXPECT_EQ(s["stalled-download-timeout"], "7 # --stalled-download-timeout");
    auto reversed = show({"--stalled-download-timeout", "7", "--option", "stalled-download-timeout", "6"});
    EXPECT_EQ(reversed["stalled-download-timeout"], "6 # --option");
}

// A nix.conf that names settings ferry does not know: they are skipped (a debug line each, listed by
// show-config --origin), the known ones are applied, and a build works.
TEST_F(ConfigTest, ARealWorldNixConfWorks) {
    write(nix_conf, read_file(test_data_dir() / "config" / "nix-2.8-show-config.conf"));
    auto r = ferry({"show-config", "--origin"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("\nhttp-connections = 25 # " + nix_conf.string() + ":"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n# ignored: trusted-users (" + nix_conf.string() + ":"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("\n# ignored: experimental-features ("), std::string::npos) << r.out;

    import_busybox();
    // No substituter: the file names cache.nixos.org, and tests use no network.
    auto built = ferry({"build", "--no-out-link", "--no-substitute",
                        busybox_derivation(tmp.path(), "cores", "echo $NIX_BUILD_CORES > $out")});
    ASSERT_EQ(built.status, 0) << built.err;
    EXPECT_EQ(read_file(config.real_store_dir() / fs::path(lines_of(built.out).at(0)).filename()), "2\n")
        << "cores = 2 of the file";
}

// The settings of every source reach the build itself.
TEST_F(ConfigTest, SettingsFromNixConfigReachTheBuild) {
    import_busybox();
    write(nix_conf, "cores = 3\n");
    ::setenv("NIX_CONFIG", "cores = 5", 1);
    auto built = ferry(
        {"build", "--no-out-link", busybox_derivation(tmp.path(), "cores", "echo $NIX_BUILD_CORES > $out")});
    ASSERT_EQ(built.status, 0) << built.err;
    EXPECT_EQ(read_file(config.real_store_dir() / fs::path(lines_of(built.out).at(0)).filename()), "5\n");
}

// --cores after build/realise is the global setting flag (the command has no copy of its own): it
// overrides the file, and of several setting flags the last one given wins.
TEST_F(ConfigTest, CoresAfterTheSubcommandIsTheGlobalSetting) {
    import_busybox();
    write(nix_conf, "cores = 3\n");
    auto cores_of = [&](const FerryResult& r) {
        return read_file(config.real_store_dir() / fs::path(lines_of(r.out).at(0)).filename());
    };
    auto built = ferry({"build", "--no-out-link",
                        busybox_derivation(tmp.path(), "cores-build", "echo $NIX_BUILD_CORES > $out"),
                        "--cores", "4"});
    ASSERT_EQ(built.status, 0) << built.err;
    EXPECT_EQ(cores_of(built), "4\n");
    auto realised = ferry({"realise", "--option", "cores", "7", "--cores", "6",
                           busybox_derivation(tmp.path(), "cores-realise", "echo $NIX_BUILD_CORES > $out")});
    ASSERT_EQ(realised.status, 0) << realised.err;
    EXPECT_EQ(cores_of(realised), "6\n");
}
