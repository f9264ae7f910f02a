#pragma once
/// The progress line's counters, derived from the event stream (never bumped by hand), so that they cannot
/// drift: an activity that ends (RAII) leaves the counts it was in.
///
/// Rules, per activity type:
/// - build_waiting (111): a build that is wanted but not started: expected.
/// - build (105): running while live, until a resProgress says done (built) or failed.
/// - builds (104), build_waiting, build: the `failed` of their last resProgress count as failed builds.
/// - substitute (108): a path wanted from a cache: expected while live, done once its resProgress says done.
/// - copy_path (100): one download of a substitute: running while live; its resProgress {bytes done,
///   bytes expected, running, failed} counts the bytes; a copy that stopped failed or unfinished
///   (running = 1) leaves the expected bytes.
/// builds_expected = builds_done + builds_running + waiting builds; fetches alike. So once every activity
/// has stopped, done == expected and nothing runs.

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "ferry/util/events.hh"

namespace ferry {

struct ProgressCounters {
    size_t builds_expected = 0, builds_done = 0, builds_running = 0;
    size_t fetches_expected = 0, fetches_done = 0, fetches_running = 0;
    size_t failed = 0;
    uint64_t download_bytes = 0;    ///< compressed bytes received so far
    uint64_t download_expected = 0; ///< compressed bytes of the fetches known so far

    /// Nothing runs or waits: every build and fetch that was expected is done (failed ones are not
    /// expected any more).
    bool settled() const {
        return builds_running == 0 && fetches_running == 0 && builds_done == builds_expected &&
               fetches_done == fetches_expected;
    }
};

/// Derives ProgressCounters from events. Thread-safe: on_event and counters() may run on any thread.
class CounterSink : public EventSink {
public:
    void on_event(const LogEvent& event) override;
    ProgressCounters counters() const;

private:
    struct Live {
        ActivityType type;
        uint64_t done = 0, expected = 0, running = 0, failed = 0; ///< the last resProgress
    };
    void stopped(const Live& a);

    mutable std::mutex mutex_;
    std::unordered_map<ActivityId, Live> live_;
    /// What stopped activities left behind.
    size_t builds_done_ = 0, fetches_done_ = 0, failed_ = 0;
    uint64_t bytes_done_ = 0, bytes_expected_ = 0;
};

} // namespace ferry
