// Nix's exit status from the kinds of failed build (Nix 2.8's Worker::exitStatus).
#include "ferry/sched/build_failure.hh"

#include <gtest/gtest.h>

#include "ferry/sched/check_build.hh"

using namespace ferry;

namespace {

int status_of(const std::vector<std::pair<const std::exception*, bool>>& errors, bool fixed_output = false) {
    BuildFailures f;
    for (const auto& [e, from_builder] : errors)
        f.record(*e, from_builder, fixed_output);
    return f.exit_status();
}

} // namespace

TEST(BuildFailures, EachKindAndTheirCombinations) {
    BuildError failed("builder for 'x' failed with exit code 1");
    BuildTimedOut timed_out("building 'x' timed out after 1 seconds");
    OutputHashMismatch mismatch("hash mismatch in fixed-output derivation 'x'");
    NotDeterministic differs("derivation 'x' may not be deterministic", "out");
    BuildError missing("builder for 'x' failed to produce output path");

    EXPECT_EQ(BuildFailures{}.exit_status(), 1);
    EXPECT_EQ(status_of({{&failed, true}}), 100);
    EXPECT_EQ(status_of({{&timed_out, true}}), 101);
    EXPECT_EQ(status_of({{&mismatch, false}}), 102);
    EXPECT_EQ(status_of({{&differs, false}}), 104);
    EXPECT_EQ(status_of({{&failed, true}, {&timed_out, true}}), 101);
    EXPECT_EQ(status_of({{&timed_out, true}, {&mismatch, false}}), 103);
    EXPECT_EQ(status_of({{&failed, true}, {&differs, false}}), 108);
    EXPECT_EQ(status_of({{&failed, true}, {&timed_out, true}, {&mismatch, false}, {&differs, false}}), 111);
    // Not kinds of their own: an output that is missing, a fixed-output builder that fails (transient).
    EXPECT_EQ(status_of({{&missing, false}}), 1);
    EXPECT_EQ(status_of({{&failed, true}}, true), 1);
    EXPECT_EQ(status_of({{&timed_out, true}}, true), 101);
}
