#pragma once
// What the user sees while the worker runs. On a terminal: one status line at the bottom,
// "[12/40 built, 300/1055 fetched (14.2 MiB), 2 running]", redrawn at most ten times a second, with
// messages printed above it so it never scrolls the log away. Otherwise: plain message lines.
// Messages are shown as the verbosity says: warnings ("warning: …") from --quiet on, the log tail of a
// failed build always, the others ("building '…'", "copied path '…'") at the default level and above.

#include <chrono>
#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "command.hh"
#include "ferry/sched/progress.hh"

namespace ferry::cli {

class ProgressLine final : public Progress {
public:
    /// `terminal`: draw the status line (stderr is a terminal). `print_build_logs`: -L.
    ProgressLine(boost::asio::io_context& io, bool terminal, bool print_build_logs,
                 Verbosity verbosity = Verbosity::info);
    ~ProgressLine() override;

    void message(std::string_view text) override;
    void build_log_line(std::string_view drv, std::string_view data) override;
    void update() override;
    /// Erases the status line (before the command prints its results).
    void finish();

    /// "[12/40 built, 300/1055 fetched (14.2 MiB), 2 running]".
    static std::string render(const ProgressCounters& c);
    /// The level of a message of the worker's (which carries none): by its form.
    static Verbosity message_level(std::string_view text);

private:
    void draw();
    void clear();

    boost::asio::steady_timer timer_;
    bool terminal_;
    bool print_build_logs_;
    Verbosity verbosity_;
    bool scheduled_ = false;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_draw_{};
};

} // namespace ferry::cli
