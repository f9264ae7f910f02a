// Whether this machine can build a derivation: Nix's canBuildLocally and its message.
#include "ferry/sched/platform.hh"

#include <gtest/gtest.h>

#include "ferry/sched/builder.hh"
#include "ferry/util/settings.hh"

using namespace ferry;

namespace {

Derivation derivation(const std::string& system, std::map<std::string, std::string> env = {}) {
    Derivation drv;
    drv.name = "x";
    drv.platform = system;
    drv.builder = "/bin/sh";
    drv.env = std::move(env);
    return drv;
}

std::string refusal(const Platform& p, const Derivation& drv) {
    try {
        check_platform(p, drv, "/nix/store/00000000000000000000000000000000-x.drv");
    } catch (const BuildError& e) {
        return e.what();
    }
    return "";
}

const Platform kHere{
    .system = "x86_64-linux", .extra_platforms = {"i686-linux"}, .features = {"nixos-test", "kvm"}};

} // namespace

TEST(PlatformTest, SystemMustBeOursOrAnExtraPlatform) {
    EXPECT_EQ(refusal(kHere, derivation("x86_64-linux")), "");
    EXPECT_EQ(refusal(kHere, derivation("i686-linux")), "");
    EXPECT_EQ(refusal(kHere, derivation("aarch64-linux")),
              "a 'aarch64-linux' with features {} is required to build "
              "'/nix/store/00000000000000000000000000000000-x.drv', but I am a 'x86_64-linux' with features "
              "{kvm, nixos-test}");
    // Nix's builtin builders run anywhere.
    auto builtin = derivation("aarch64-linux");
    builtin.builder = "builtin:fetchurl";
    EXPECT_EQ(refusal(kHere, builtin), "");
}

TEST(PlatformTest, RequiredFeaturesMustAllBeThere) {
    EXPECT_EQ(refusal(kHere, derivation("x86_64-linux", {{"requiredSystemFeatures", " kvm\tnixos-test "}})),
              "");
    auto missing =
        refusal(kHere, derivation("x86_64-linux", {{"requiredSystemFeatures", "kvm gpu big-parallel"}}));
    EXPECT_EQ(missing, "a 'x86_64-linux' with features {big-parallel, gpu, kvm} is required to build "
                       "'/nix/store/00000000000000000000000000000000-x.drv', but I am a 'x86_64-linux' with "
                       "features {kvm, nixos-test}");
    // Structured attributes: a list in __json.
    EXPECT_EQ(
        required_system_features(derivation("x", {{"__json", R"({"requiredSystemFeatures":["b","a"]})"}})),
        (std::set<std::string>{"a", "b"}));
    EXPECT_THROW(required_system_features(derivation("x", {{"__json", R"({"requiredSystemFeatures":"a"})"}})),
                 FormatError);
    EXPECT_THROW(required_system_features(derivation("x", {{"__json", "{"}})), FormatError);
}

TEST(PlatformTest, FromSettingsWithNixsDefaults) {
    Settings s;
    auto p = Platform::from(s);
    EXPECT_EQ(p.system, "x86_64-linux");
    EXPECT_TRUE(p.features.count("nixos-test") && p.features.count("benchmark") &&
                p.features.count("big-parallel"));
    EXPECT_EQ(p.features.count("kvm") > 0, ::access("/dev/kvm", R_OK | W_OK) == 0);
#if defined(__x86_64__)
    EXPECT_TRUE(p.extra_platforms.count("i686-linux"));
#endif
    s.set("extra-platforms", "aarch64-linux armv7l-linux");
    s.set("system-features", "gpu");
    EXPECT_EQ(s.get("system-features"), "gpu");
    p = Platform::from(s);
    EXPECT_EQ(p.extra_platforms, (std::set<std::string>{"aarch64-linux", "armv7l-linux"}));
    EXPECT_EQ(p.features, (std::set<std::string>{"gpu"}));
}
