#pragma once
/// What the worker reports while it runs: counters for the progress line and events for the log.
/// Written and read on the loop thread only.

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

struct ProgressCounters {
    size_t builds_expected = 0, builds_done = 0, builds_running = 0;
    size_t fetches_expected = 0, fetches_done = 0, fetches_running = 0;
    size_t failed = 0;
    uint64_t download_bytes = 0;   ///< compressed bytes received so far
    uint64_t download_expected = 0; ///< compressed bytes of the fetches known so far
};

/// Receives the worker's events. The default does nothing but count.
class Progress {
public:
    virtual ~Progress() = default;
    /// A one-line message for the user ("building '/nix/store/…drv'…").
    virtual void message(std::string_view) {}
    /// A line of a builder's output (for `-L` / verbose modes).
    virtual void build_log_line(std::string_view /*drv*/, std::string_view /*line*/) {}
    /// Called after the counters change.
    virtual void update() {}

    ProgressCounters counters;
};

} // namespace ferry
