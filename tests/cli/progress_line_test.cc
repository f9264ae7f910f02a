// The console on a terminal, driven by events without a process: messages are printed above the status
// line, which is erased first and drawn again below them; the verbosity filters what is shown.

#include "progress_line.hh"

#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

using namespace ferry;
using namespace ferry::cli;
using namespace std::chrono_literals;

namespace {

/// An in-memory FILE*, read back as a string.
struct Captured {
    char* buf = nullptr;
    size_t size = 0;
    std::FILE* file = ::open_memstream(&buf, &size);
    ~Captured() {
        std::fclose(file);
        std::free(buf);
    }
    std::string text() {
        std::fflush(file);
        return std::string(buf, size);
    }
};

} // namespace

TEST(ProgressLine, AWarningIsPrintedAboveTheLineWhichIsDrawnAgainBelowIt) {
    EventBus bus;
    Captured out;
    ProgressLine line(/*terminal=*/true, Level::info, out.file);
    auto subscription = bus.subscribe(line);
    boost::asio::io_context io;
    line.attach(io);
    Activity build(bus, ActivityType::build, Level::info, "building '/nix/store/x-a.drv'...",
                   {"/nix/store/x-a.drv"});
    io.run_for(300ms); // the redraw timer
    const std::string status = "[0/1 built, 0/0 fetched, 1 running]";
    EXPECT_EQ(out.text(), "building '/nix/store/x-a.drv'...\n" + status + "\r\033[K" + status);

    size_t before = out.text().size();
    bus.emit(LogMessage{Level::warn, "warning: something odd"});
    // Erased, the warning on its own line, the status line below it again.
    EXPECT_EQ(out.text().substr(before), "\r\033[Kwarning: something odd\n" + status);

    build.progress(1, 1);
    build.stop();
    io.restart();
    io.run_for(300ms);
    EXPECT_NE(out.text().rfind("[1/1 built, 0/0 fetched]"), std::string::npos) << out.text();
    line.finish();
    EXPECT_TRUE(out.text().ends_with("\r\033[K")) << "erased at the end";
    line.detach();
}

TEST(ProgressLine, VerbosityFiltersMessagesAndActivities) {
    EventBus bus;
    Captured out;
    ProgressLine line(/*terminal=*/false, Level::info, out.file);
    auto subscription = bus.subscribe(line);
    auto emit_all = [&] {
        bus.emit(LogMessage{Level::error, "error: e"});
        bus.emit(LogMessage{Level::warn, "warning: w"});
        Activity(bus, ActivityType::build, Level::info, "building 'b'...");
        Activity(bus, ActivityType::query_path_info, Level::talkative, "querying info about 'q'");
        bus.emit(LogMessage{Level::debug, "a debug line"});
    };
    emit_all();
    EXPECT_EQ(out.text(), "error: e\nwarning: w\nbuilding 'b'...\n");
    size_t before = out.text().size();
    line.set_verbosity(Level::talkative); // -v
    emit_all();
    EXPECT_EQ(out.text().substr(before), "error: e\nwarning: w\nbuilding 'b'...\nquerying info about 'q'\n");
    before = out.text().size();
    line.set_verbosity(Level::notice); // --quiet
    emit_all();
    EXPECT_EQ(out.text().substr(before), "error: e\nwarning: w\n");
    before = out.text().size();
    line.set_verbosity(Level::debug); // --debug
    emit_all();
    EXPECT_TRUE(out.text().substr(before).ends_with("querying info about 'q'\na debug line\n"));
}

TEST(ProgressLine, RendersTheCountersAsBefore) {
    ProgressCounters c{.builds_expected = 40,
                       .builds_done = 12,
                       .builds_running = 2,
                       .fetches_expected = 1055,
                       .fetches_done = 300,
                       .download_bytes = 14890000};
    EXPECT_EQ(ProgressLine::render(c), "[12/40 built, 300/1055 fetched (14.2 MiB), 2 running]");
}
