// Targets that cannot be realised are one-line errors, as in Nix 2.8: a `.drv` that is not valid (and
// that no substituter has), a derivation for another system, one that requires a feature this machine
// lacks. Nothing is built or registered for them.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/store_check.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
using testing::AnyOf;
using testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const std::string kBusybox = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";
const std::string kHelloDrv = "/nix/store/nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv";

class BadTargetTest : public ::testing::Test {
protected:
    BadTargetTest() { ::setenv("XDG_CONFIG_HOME", (tmp.path() / "config").c_str(), 1); }

    FerryResult ferry(std::vector<std::string> args) {
        args.insert(args.begin(), {"--store", root.string()});
        return run_ferry(args);
    }

    void import_busybox() {
        for (const auto& e : compat_path_infos()) {
            if (e["path"] != kBusybox) continue;
            auto r = ferry({"store", "import", compat_nar(e).string(), "--path", kBusybox, "--nar-hash",
                            e["narHash"], "--ca", e["ca"]});
            ASSERT_EQ(r.status, 0) << r.err;
        }
    }

    /// A busybox derivation (JSON file) named `name` for `system`, with `extra` environment variables;
    /// added to the store. Returns its .drv path.
    std::string add_derivation(const std::string& name, const std::string& system,
                               const std::map<std::string, std::string>& extra = {}) {
        nlohmann::ordered_json j;
        j["outputs"]["out"]["path"] = "";
        j["inputSrcs"] = {kBusybox};
        j["inputDrvs"] = nlohmann::ordered_json::object();
        j["system"] = system;
        j["builder"] = kBusybox + "/bin/sh";
        j["args"] = {"-c", "echo $name > $out"};
        j["env"] = {{"name", name}, {"builder", kBusybox + "/bin/sh"}, {"system", system}, {"out", ""}};
        for (const auto& [k, v] : extra)
            j["env"][k] = v;
        auto file = tmp.path() / (name + ".json");
        write_file_atomic(file, j.dump());
        auto r = ferry({"derivation", "add", file.string()});
        EXPECT_EQ(r.status, 0) << r.err;
        return r.out.substr(0, r.out.find('\n'));
    }

    /// The output path of `drv` (ferry derivation show).
    std::string output_of(const std::string& drv) {
        auto r = ferry({"derivation", "show", drv});
        return nlohmann::json::parse(r.out).begin().value()["outputs"]["out"]["path"];
    }

    bool is_valid(const std::string& path) { return ferry({"path-info", path}).status == 0; }

    /// Nix's default system-features here, as its message prints them.
    static std::string default_features() {
        return ::access("/dev/kvm", R_OK | W_OK) == 0 ? "benchmark, big-parallel, kvm, nixos-test"
                                                      : "benchmark, big-parallel, nixos-test";
    }

    TempDir tmp;
    fs::path root = tmp.path() / "root";
};

} // namespace

TEST_F(BadTargetTest, DerivationThatIsNotValidIsAOneLineError) {
    const std::string expected = "error: cannot build missing derivation '" + kHelloDrv +
                                 "': it is not valid, and no substituter has it\n";
    for (const auto& target : {kHelloDrv, kHelloDrv + "^out", kHelloDrv + "^*"}) {
        auto r = ferry({"realise", target});
        EXPECT_EQ(r.status, 1) << target;
        EXPECT_EQ(r.err, expected) << target;
        EXPECT_EQ(r.out, "");
    }
    auto built = ferry({"build", "--no-out-link", kHelloDrv});
    EXPECT_EQ(built.status, 1);
    EXPECT_EQ(built.err, expected);
    // Nix's dry run lists it as unknown and succeeds.
    auto dry = ferry({"realise", "--dry-run", kHelloDrv});
    EXPECT_EQ(dry.status, 0) << dry.err;
    EXPECT_EQ(dry.err, "don't know how to build these 1 paths:\n  " + kHelloDrv + "\n");
    EXPECT_TRUE(store_problems(StoreConfig{.store_dir = "/nix/store", .root = root}).empty());
}

TEST_F(BadTargetTest, DerivationForAnotherSystemIsRefusedWithNixsMessage) {
    import_busybox();
    auto drv = add_derivation("arm", "aarch64-linux");
    auto r = ferry({"realise", drv});
    // A build failure: 1 as Nix 2.8's nix-store says, or the permanent-failure code once failures are
    // classified.
    EXPECT_THAT(r.status, AnyOf(1, 100));
    EXPECT_EQ(r.err, "error: a 'aarch64-linux' with features {} is required to build '" + drv +
                         "', but I am a 'x86_64-linux' with features {" + default_features() + "}\n");
    EXPECT_FALSE(is_valid(output_of(drv))) << "nothing is registered";

    // The settings decide: extra-platforms (i686-linux by default on x86_64-linux), system.
    auto i686 = add_derivation("i686", "i686-linux");
    auto ok = ferry({"realise", i686});
    EXPECT_EQ(ok.status, 0) << ok.err;
    auto refused = add_derivation("i686-again", "i686-linux");
    auto no_extra =
        ferry({"--option", "extra-platforms", "", "--option", "system-features", "kvm", "realise", refused});
    EXPECT_NE(no_extra.status, 0);
    EXPECT_EQ(no_extra.err, "error: a 'i686-linux' with features {} is required to build '" + refused +
                                "', but I am a 'x86_64-linux' with features {kvm}\n");
    auto as_arm = ferry({"--option", "system", "aarch64-linux", "realise", drv});
    EXPECT_EQ(as_arm.status, 0) << as_arm.err; // busybox is x86_64, but a 'system' is only a name
}

TEST_F(BadTargetTest, MissingSystemFeatureIsRefusedWithNixsMessage) {
    import_busybox();
    auto drv = add_derivation("gpu", "x86_64-linux", {{"requiredSystemFeatures", "gpu big-parallel"}});
    auto r = ferry({"build", "--no-out-link", drv});
    EXPECT_THAT(r.status, AnyOf(1, 100));
    EXPECT_EQ(r.err, "error: a 'x86_64-linux' with features {big-parallel, gpu} is required to build '" +
                         drv + "', but I am a 'x86_64-linux' with features {" + default_features() + "}\n");
    EXPECT_FALSE(is_valid(output_of(drv)));
    // Features Nix has by default are there; a machine with the feature builds.
    auto big = add_derivation("big", "x86_64-linux", {{"requiredSystemFeatures", "big-parallel benchmark"}});
    EXPECT_EQ(ferry({"build", "--no-out-link", big}).status, 0);
    auto ok = ferry({"--option", "system-features", "gpu big-parallel", "build", "--no-out-link", drv});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_TRUE(is_valid(output_of(drv)));
    EXPECT_TRUE(store_problems(StoreConfig{.store_dir = "/nix/store", .root = root}).empty());
}

// The dry run says where each build would run once `builders` names machines (" (on …)" after the
// path; Nix's lines without them); a bad machines line is an error naming it.
TEST_F(BadTargetTest, DryRunNamesTheMachinesOfBuilders) {
    import_busybox();
    auto arm = add_derivation("arm", "aarch64-linux");
    auto plain = add_derivation("plain", "x86_64-linux");
    const std::string builders = "ssh://arm aarch64-linux; x86 x86_64-linux - 2 # two slots";
    auto lines_of_run = [&](std::vector<std::string> args) {
        args.insert(args.end(), {"realise", "--dry-run", arm, plain});
        auto r = ferry(args);
        EXPECT_EQ(r.status, 0) << r.err;
        std::vector<std::string> lines;
        for (size_t start = 0; start < r.err.size();) {
            auto end = r.err.find('\n', start);
            if (end == std::string::npos) end = r.err.size();
            lines.push_back(r.err.substr(start, end - start));
            start = end + 1;
        }
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    auto sorted = [](std::vector<std::string> lines) {
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    EXPECT_EQ(lines_of_run({"--builders", builders}),
              sorted({"  " + arm + " (on ssh://arm)", "  " + plain + " (on local, ssh://x86)",
                      "these 2 derivations will be built:"}));
    EXPECT_EQ(lines_of_run({"--builders", builders, "-j", "0"}),
              sorted({"  " + arm + " (on ssh://arm)", "  " + plain + " (on ssh://x86)",
                      "these 2 derivations will be built:"}));
    EXPECT_EQ(lines_of_run({"--builders", "@" + (tmp.path() / "no-machines").string()}),
              sorted({"  " + arm, "  " + plain, "these 2 derivations will be built:"}))
        << "no machines: Nix's lines";

    auto bad = ferry({"--builders", "ok;ssh-ng://fast x86_64-linux", "realise", "--dry-run", plain});
    EXPECT_EQ(bad.status, 1);
    EXPECT_EQ(bad.err,
              "error: builders:1: machine 'ssh-ng://fast': the ssh-ng:// protocol is not supported yet "
              "(use ssh://)\n");
}
