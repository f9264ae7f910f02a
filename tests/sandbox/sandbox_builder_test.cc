#include "ferry/sandbox/sandbox_builder.hh"

#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_error.hh"
#include "sandbox_fixture.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

TEST(SandboxBuilder, BuildsHelloText) {
    FakeStore store;
    auto drv = store.shell_derivation("hello-text", "echo hello > $out");
    std::string log;
    auto job = store.job(drv, &log);
    SandboxBuilder builder;
    auto out = run_build(builder, job);
    ASSERT_TRUE(out);
    EXPECT_EQ(read_file(out->locations.at("out")), "hello\n");
}
