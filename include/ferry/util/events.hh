#pragma once
/// One stream of events for everything the user may see, after Nix's logger (libutil/logging.hh, 2.8):
/// activities that start, report results (progress, log lines, phases) and stop; and messages (warnings,
/// notices, debug lines). Modules emit; sinks (the progress line, plain lines, Nix's internal-json, a
/// trace file, a test's recorder) subscribe. No module writes to the terminal by itself.
///
/// Threads: any thread may emit (pool threads warn too). An EventBus serialises delivery with one mutex:
/// every sink sees the events one at a time, in one order, on the emitting thread. A sink must not emit
/// from inside on_event, and must not block for long (it holds up every emitter).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

namespace ferry {

/// Nix's verbosity levels (lvlError = 0 … lvlVomit = 7): a sink shows what is at or below its level.
enum class Level {
    error = 0,
    warn = 1,
    notice = 2,
    info = 3,
    talkative = 4,
    chatty = 5,
    debug = 6,
    vomit = 7
};

/// Nix's activity types, with Nix's numbers (so internal-json readers understand ours).
enum class ActivityType : uint16_t {
    unknown = 0,
    copy_path = 100,
    file_transfer = 101,
    realise = 102,
    copy_paths = 103,
    builds = 104,
    build = 105,
    optimise_store = 106,
    verify_paths = 107,
    substitute = 108,
    query_path_info = 109,
    post_build_hook = 110,
    build_waiting = 111,
};

/// Nix's result types, with Nix's numbers.
enum class ResultType : uint16_t {
    file_linked = 100,
    build_log_line = 101,
    untrusted_path = 102,
    corrupted_path = 103,
    set_phase = 104,
    progress = 105,     ///< fields: done, expected, running, failed
    set_expected = 106, ///< fields: activity type, expected
    post_build_log_line = 107,
};

using ActivityId = uint64_t;
/// A field of an activity or a result: a number or a string, as in Nix.
using Field = std::variant<uint64_t, std::string>;
using Fields = std::vector<Field>;

/// The number in `fields[i]`, or 0 when there is none.
uint64_t field_int(const Fields& fields, size_t i);
/// The string in `fields[i]`, or "" when there is none.
std::string field_str(const Fields& fields, size_t i);

struct ActivityStarted {
    ActivityId id;
    ActivityType type;
    Level level;
    std::string text; ///< what a plain log prints ("building '…'"); may be empty
    Fields fields;
    ActivityId parent; ///< 0: none
};
struct ActivityStopped {
    ActivityId id;
};
struct ActivityResult {
    ActivityId id;
    ResultType type;
    Fields fields;
};
struct LogMessage {
    Level level;
    std::string text; ///< whole, with its "warning: " prefix where it has one
};
using LogEvent = std::variant<ActivityStarted, ActivityStopped, ActivityResult, LogMessage>;

/// Receives events. Called with the bus's lock held (see the file's comment on threads).
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void on_event(const LogEvent& event) = 0;
};

/// Fans events out to its subscribed sinks. The process has one (events()); tests may make their own.
class EventBus {
public:
    EventBus() = default;
    EventBus(const EventBus&) = delete;
    EventBus& operator=(const EventBus&) = delete;

    /// Delivers `event` to every sink, in subscription order. Thread-safe.
    void emit(const LogEvent& event);
    /// A fresh activity id (never 0). Thread-safe.
    ActivityId next_id() { return next_id_.fetch_add(1) + 1; }

    /// Keeps `sink` subscribed while it lives. The sink must outlive the subscription.
    class Subscription {
    public:
        Subscription() = default;
        Subscription(EventBus& bus, EventSink& sink);
        Subscription(Subscription&& o) noexcept : bus_(std::exchange(o.bus_, nullptr)), sink_(o.sink_) {}
        Subscription& operator=(Subscription&& o) noexcept;
        ~Subscription() { reset(); }
        void reset();

    private:
        EventBus* bus_ = nullptr;
        EventSink* sink_ = nullptr;
    };
    [[nodiscard]] Subscription subscribe(EventSink& sink) { return Subscription(*this, sink); }

private:
    std::mutex mutex_;
    std::vector<EventSink*> sinks_;
    std::atomic<ActivityId> next_id_{0};
};

/// The process-wide bus that every module emits to.
EventBus& events();

/// Emits a message on `bus`. `warn` adds the "warning: " prefix; the others print the text as it is.
void log_message(EventBus& bus, Level level, std::string text);
template <typename... Args> void warn(fmt::format_string<Args...> f, Args&&... args) {
    log_message(events(), Level::warn, "warning: " + fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args> void log_error(fmt::format_string<Args...> f, Args&&... args) {
    log_message(events(), Level::error, "error: " + fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args> void log_debug(fmt::format_string<Args...> f, Args&&... args) {
    log_message(events(), Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args> void log_at(Level level, fmt::format_string<Args...> f, Args&&... args) {
    log_message(events(), level, fmt::format(f, std::forward<Args>(args)...));
}

/// An activity while it lives: started on construction, stopped on destruction (or stop()). Move-only.
/// Used on one thread at a time.
class Activity {
public:
    Activity() = default;
    Activity(EventBus& bus, ActivityType type, Level level, std::string text, Fields fields = {},
             ActivityId parent = 0);
    Activity(Activity&& o) noexcept : bus_(std::exchange(o.bus_, nullptr)), id_(std::exchange(o.id_, 0)) {}
    Activity& operator=(Activity&& o) noexcept;
    ~Activity() { stop(); }

    /// Emits the stop event now (once); later calls do nothing.
    void stop() noexcept;
    bool active() const { return bus_ != nullptr; }
    ActivityId id() const { return id_; }

    void result(ResultType type, Fields fields) const;
    /// resProgress: `done` of `expected` (bytes, or paths), `running` and `failed` of them.
    void progress(uint64_t done, uint64_t expected, uint64_t running = 0, uint64_t failed = 0) const {
        result(ResultType::progress, {done, expected, running, failed});
    }
    /// resSetExpected: `expected` of activities of type `type` will come below this one.
    void set_expected(ActivityType type, uint64_t expected) const {
        result(ResultType::set_expected, {uint64_t(type), expected});
    }

private:
    EventBus* bus_ = nullptr;
    ActivityId id_ = 0;
};

} // namespace ferry
