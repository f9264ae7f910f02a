#pragma once
// The console: the sink of the event stream (ferry/util/events.hh) that shows it on stderr. On a terminal:
// one status line at the bottom, "[12/40 built, 300/1055 fetched (14.2 MiB), 2 running]", with its
// counters derived from the events (CounterSink), redrawn at most ten times a second, and everything else
// printed above it so it never scrolls the log away. Otherwise: plain lines. Shown as the verbosity says
// (Nix's levels): messages and activities ("building '…'...", "copying path '…' from '…'" at -v) at or
// below it; build log lines with -L.
//
// Threads: on_event runs on the emitting thread under the bus's lock; the redraw timer runs on the
// attached io_context's thread. A mutex guards the line's state.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ferry/sched/progress_counters.hh"
#include "ferry/util/events.hh"

namespace ferry::cli {

class ProgressLine final : public EventSink {
public:
    /// `terminal`: draw the status line. `out`: where to write (stderr by default).
    explicit ProgressLine(bool terminal, Level verbosity = Level::info, std::FILE* out = stderr);
    ~ProgressLine() override;

    void on_event(const LogEvent& event) override;

    void set_verbosity(Level verbosity);
    /// Off: shows nothing (another sink, internal-json, has stderr).
    void set_enabled(bool on);
    /// -L: show the builders' output.
    void set_print_build_logs(bool on);
    /// Redraws through `io`'s timers while attached (a Session's loop); detach() before `io` goes.
    void attach(boost::asio::io_context& io);
    void detach();
    /// Erases the status line (before the command prints its results); the next event draws it again.
    void finish();
    /// The counters as derived so far.
    ProgressCounters counters() const { return counters_.counters(); }

    /// "[12/40 built, 300/1055 fetched (14.2 MiB), 2 running]".
    static std::string render(const ProgressCounters& c);

private:
    void print(std::string_view text); // above the line; mutex held
    void draw();                       // mutex held
    void clear();                      // mutex held
    void schedule();                   // mutex held
    void on_timer();

    CounterSink counters_;
    mutable std::mutex mutex_;
    bool terminal_;
    Level verbosity_;
    std::FILE* out_;
    bool print_build_logs_ = false;
    bool enabled_ = true;
    boost::asio::io_context* io_ = nullptr;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool scheduled_ = false;
    bool shown_ = false;
    bool finished_ = false;
    std::chrono::steady_clock::time_point last_draw_{};
    std::unordered_map<ActivityId, std::string> build_names_; ///< live builds: "…-x.drv", for -L
};

/// The process's console, subscribed to events() from its first use to the end of the process.
ProgressLine& console();

} // namespace ferry::cli
