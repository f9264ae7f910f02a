#pragma once
// The event stream in tests: a sink that records every event while it lives, and the check that a realise
// left its counters at N/N (every expected build and fetch done, nothing running), from recorded events
// or from the `--log-format internal-json` log of the ferry binary. Free of GoogleTest.

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/sched/progress_counters.hh"
#include "ferry/util/events.hh"

namespace ferry::test {

/// Subscribed to `bus` from construction to destruction. Thread-safe.
class EventRecorder : public EventSink {
public:
    explicit EventRecorder(EventBus& bus = events()) : subscription_(bus.subscribe(*this)) {}
    ~EventRecorder() override { subscription_.reset(); }
    void on_event(const LogEvent& event) override;

    std::vector<LogEvent> recorded() const;
    /// The counters derived from the recorded events (as the progress line derives them).
    ProgressCounters counters() const;
    /// The texts of the messages at or below `level`, and of the activities started at or below it.
    std::vector<std::string> lines(Level level = Level::vomit) const;
    /// The activities of `type` that started, and how many of them are still live.
    size_t started(ActivityType type) const;
    size_t live() const;

private:
    mutable std::mutex mutex_;
    std::vector<LogEvent> events_;
    EventBus::Subscription subscription_;
};

/// The events of Nix's internal-json log: the "@nix {…}" lines of `log`; other lines are skipped.
std::vector<LogEvent> parse_internal_json(std::string_view log);
/// The counters derived from `events`.
ProgressCounters derive_counters(const std::vector<LogEvent>& events);
/// "" when `c` is settled (N/N built and fetched, nothing running); otherwise the line that shows it.
std::string unsettled(const ProgressCounters& c);

} // namespace ferry::test
