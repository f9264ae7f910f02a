// The event stream of the ferry binary: with `--log-format internal-json` every realise's counters end
// at N/N (builds, a failing build with --keep-going, a dry run), and the default console shows the same
// run as Nix's plain lines.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_fixture.hh"
#include "support/events_check.hh"

using namespace ferry;
using namespace ferry::test;
using testing::HasSubstr;

namespace {

struct EventsTest : CliTest {
    EventsTest() { import_busybox(); }

    /// ferry --log-format internal-json ARGS…: the exit status and the events of its log.
    std::pair<int, std::vector<LogEvent>> json_run(std::vector<std::string> args) {
        args.insert(args.begin(), {"--log-format", "internal-json"});
        auto r = ferry(args);
        for (const auto& line : lines_of(r.err))
            EXPECT_TRUE(line.starts_with("@nix {")) << "only events on stderr: " << line;
        return {r.status, parse_internal_json(r.err)};
    }
};

size_t messages_starting(const std::vector<LogEvent>& events, std::string_view prefix) {
    size_t n = 0;
    for (const auto& e : events)
        if (const auto* m = std::get_if<LogMessage>(&e); m && m->text.starts_with(prefix)) ++n;
    return n;
}

} // namespace

TEST_F(EventsTest, BuildOnlyRealiseEndsAtNOfN) {
    auto a = busybox_derivation(tmp.path(), "a", "echo a > $out");
    auto b = busybox_derivation(tmp.path(), "b", "echo b > $out; echo a line of the log");
    auto [status, events] = json_run({"build", "--no-out-link", a, b});
    ASSERT_EQ(status, 0);
    auto c = derive_counters(events);
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.builds_done, 2u);
    EXPECT_EQ(c.fetches_expected, 0u);
    size_t builds = 0, log_lines = 0;
    for (const auto& e : events) {
        if (const auto* s = std::get_if<ActivityStarted>(&e); s && s->type == ActivityType::build) {
            ++builds;
            EXPECT_THAT(s->text, testing::StartsWith("building '/nix/store/"));
            EXPECT_EQ(s->level, Level::info);
        }
        if (const auto* r = std::get_if<ActivityResult>(&e); r && r->type == ResultType::build_log_line)
            log_lines += field_str(r->fields, 0) == "a line of the log";
    }
    EXPECT_EQ(builds, 2u);
    EXPECT_EQ(log_lines, 1u) << "the builder's output is in the stream (shown with -L)";
}

TEST_F(EventsTest, FailingBuildWithKeepGoingEndsAtNOfNWithTheFailureCounted) {
    auto ok = busybox_derivation(tmp.path(), "ok", "echo ok > $out");
    auto bad = busybox_derivation(tmp.path(), "bad", "echo about to fail; exit 1");
    auto [status, events] = json_run({"build", "--no-out-link", "--keep-going", ok, bad});
    EXPECT_NE(status, 0);
    auto c = derive_counters(events);
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.builds_done, 1u);
    EXPECT_EQ(c.failed, 1u);
    EXPECT_EQ(messages_starting(events, "last log lines of '"), 1u);
}

TEST_F(EventsTest, DryRunStartsNothingAndStaysAtZero) {
    auto a = busybox_derivation(tmp.path(), "a", "echo a > $out");
    auto [status, events] = json_run({"build", "--dry-run", a});
    ASSERT_EQ(status, 0);
    auto c = derive_counters(events);
    EXPECT_EQ(unsettled(c), "");
    EXPECT_EQ(c.builds_expected + c.fetches_expected, 0u);
    EXPECT_EQ(messages_starting(events, "these 1 derivations will be built:\n  /nix/store/"), 1u);
}

TEST_F(EventsTest, PlainLinesAreTheEventsNixPrints) {
    auto a = busybox_derivation(tmp.path(), "a", "echo hidden > $out; echo shown with -L");
    auto r = ferry({"build", "--no-out-link", a});
    ASSERT_EQ(r.status, 0) << r.err;
    auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_THAT(lines[0], testing::MatchesRegex("building '/nix/store/[a-z0-9]{32}-a.drv'\\.\\.\\."));
    auto logs = ferry({"build", "--no-out-link", "--check", "-L", a});
    EXPECT_THAT(logs.err, HasSubstr("-a.drv> shown with -L\n")) << logs.err;
}
