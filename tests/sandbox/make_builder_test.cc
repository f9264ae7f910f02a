// Choosing the builder from `sandbox` and `sandbox-fallback`.
#include "ferry/sandbox/make_builder.hh"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;

namespace {

/// Stands in for the scheduler's unsandboxed builder: records that it was asked.
class FakeUnsandboxed final : public Builder {
public:
    boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob&) override {
        auto out = std::make_unique<BuiltOutputs>();
        out->locations["out"] = "unsandboxed";
        co_return out;
    }
    std::string_view name() const override { return "fake-local"; }
};

BuilderContext with_fake(bool diverted = false) {
    return {diverted, [] { return std::make_unique<FakeUnsandboxed>(); }, nullptr};
}

Settings with_sandbox(const char* mode) {
    Settings settings;
    settings.set("sandbox", mode);
    return settings;
}

} // namespace

TEST(MakeBuilder, SandboxTrueGivesTheSandbox) {
    auto builder = make_builder(with_sandbox("true"), with_fake());
    EXPECT_EQ(builder->name(), "sandbox");
    EXPECT_TRUE(dynamic_cast<SandboxBuilder&>(*builder).options().reject_no_chroot);
}

TEST(MakeBuilder, SandboxFalseGivesTheUnsandboxedBuilder) {
    EXPECT_EQ(make_builder(with_sandbox("false"), with_fake())->name(), "fake-local");
    EXPECT_EQ(make_builder(with_sandbox("false"))->name(), "local");
}

TEST(MakeBuilder, SandboxFalseWithADivertedStoreIsUnsandboxedToo) {
    // The unsandboxed builder shows the physical store at the logical path through one bind mount.
    EXPECT_EQ(make_builder(with_sandbox("false"), with_fake(true))->name(), "fake-local");
    EXPECT_EQ(make_builder(with_sandbox("false"), BuilderContext{})->name(), "local");
}

TEST(MakeBuilder, RelaxedSendsNoChrootAndFixedOutputDerivationsToTheUnsandboxedBuilder) {
    auto builder = make_builder(with_sandbox("relaxed"), with_fake());
    EXPECT_EQ(builder->name(), "relaxed");
    FakeStore store;
    auto impure = store.shell_derivation("impure", "echo sandboxed > $out", {{"__noChroot", "1"}});
    auto pure = store.shell_derivation("pure", "echo sandboxed > $out");
    auto fixed = store.fixed_output_derivation("fixed", "echo fixed > $out", "fixed\n");
    auto impure_job = store.job(impure);
    auto pure_job = store.job(pure);
    auto fixed_job = store.job(fixed);
    EXPECT_EQ(run_build(*builder, impure_job)->locations.at("out"), "unsandboxed");
    EXPECT_EQ(run_build(*builder, fixed_job)->locations.at("out"), "unsandboxed");
    EXPECT_EQ(read_file(run_build(*builder, pure_job)->locations.at("out")), "sandboxed\n");
}

TEST(MakeBuilder, OptionsComeFromSettings) {
    Settings settings;
    settings.set("sandbox-paths", "/bin/sh=/x/sh /etc/ssl?");
    settings.set("impersonate-linux-26", "true");
    auto options = SandboxOptions::from_settings(settings);
    EXPECT_EQ(options.sandbox_paths, (std::vector<std::string>{"/bin/sh=/x/sh", "/etc/ssl?"}));
    EXPECT_TRUE(options.impersonate_linux_26);
}
