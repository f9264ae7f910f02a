#pragma once
/// What the worker reports while it runs, as events (util/events.hh): activities for builds and
/// substitutions, whose lifetimes the counters (progress_counters.hh) are derived from, and messages.
/// A Progress is used on the loop thread only; its events go to an EventBus (the process's by default).
///
/// Builds and substitutions are reported through activity handles (want_build/start_build →
/// BuildActivity, want_substitute → SubstituteActivity), RAII: whatever path a goal takes out of its
/// scope, the activity ends, so the counts cannot drift; messages through message(). The counts are
/// read with derived().

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/sched/progress_counters.hh"
#include "ferry/util/events.hh"

namespace ferry {

class Progress;

/// One derivation to build: wanted (a waiting build, counted as expected) until start(), then building,
/// until succeeded() or failed() or its end. Move-only; loop thread.
class BuildActivity {
public:
    BuildActivity() = default;
    BuildActivity(BuildActivity&&) noexcept;
    BuildActivity& operator=(BuildActivity&&) noexcept;
    ~BuildActivity();

    /// "building '…'..." (on a remote machine: "building '…' on '…'..."): the waiting ends, the build
    /// runs. `machine`: Nix's field of actBuild, empty for this machine.
    void start(const std::string& machine = {});
    /// The machine it was building on went away: that build activity ends (neither done nor failed)
    /// and the build waits again ("waiting to build '…'"), so that the next start() says where it runs.
    void requeue();
    /// A chunk of the builder's output: one resBuildLogLine per line.
    void log(std::string_view data);
    /// The outputs are valid: one more build done.
    void succeeded();
    /// The build (or a dependency of it) failed: one more failed build.
    void failed();
    const std::string& drv() const { return drv_; }

private:
    friend class Progress;
    BuildActivity(Progress& progress, std::string drv);

    Progress* progress_ = nullptr;
    std::string drv_;
    std::string partial_; ///< the unfinished last line of log()
    Activity waiting_, building_;
};

/// One path to substitute: wanted (expected) until succeeded() or its end; each attempt from a cache is
/// a copy (begin_copy … end_copy) with its download progress. Move-only; loop thread.
class SubstituteActivity {
public:
    SubstituteActivity() = default;
    SubstituteActivity(SubstituteActivity&&) noexcept = default;
    SubstituteActivity& operator=(SubstituteActivity&&) noexcept = default;

    /// An attempt from `cache` of `file_size` compressed bytes starts ("copying path '…' from '…'", at
    /// talkative level).
    void begin_copy(const std::string& cache, uint64_t file_size);
    /// `n` more bytes of the current copy arrived.
    void downloaded(uint64_t n);
    /// The current copy ended: failed (another cache may be tried) or not.
    void end_copy(bool failed);
    /// The path is valid ("copied path '…' from '…'"): one more fetch done.
    void succeeded();

private:
    friend class Progress;
    SubstituteActivity(Progress& progress, std::string path);

    Progress* progress_ = nullptr;
    std::string path_, cache_;
    uint64_t bytes_ = 0, expected_ = 0;
    Activity unit_, copy_;
};

class Progress {
public:
    /// Emits to `bus` (the process's by default), which must outlive the Progress.
    explicit Progress(EventBus& bus = events());
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    virtual ~Progress();

    /// A one-line message for the user; its level by its form ("warning: …" warn, "error: …" and
    /// "last log lines of …" error, others info).
    virtual void message(std::string_view text);
    /// A derivation that will be built unless it turns out valid: a waiting build until start().
    BuildActivity want_build(std::string drv) { return BuildActivity(*this, std::move(drv)); }
    /// want_build(drv) and start() at once (the goals' "building '…'" line becomes this).
    BuildActivity start_build(std::string drv);
    /// A build that failed before it had a handle (refused, or a dependency failed): one more failed.
    void build_failed(const std::string& drv);
    /// A path to substitute.
    SubstituteActivity want_substitute(std::string path) {
        return SubstituteActivity(*this, std::move(path));
    }

    /// The counters derived from this Progress's events (its own CounterSink).
    ProgressCounters derived() const { return sink_.counters(); }
    EventBus& bus() { return bus_; }
    /// The level of a message by its form.
    static Level message_level(std::string_view text);

private:
    EventBus& bus_;
    CounterSink sink_;
    EventBus::Subscription subscription_;
};

} // namespace ferry
