#pragma once
/// The worker: one io_context thread that owns a graph of goals and drives them to completion.
///
/// Goals are keyed (one per store path, per derivation output, per derivation build) and shared by
/// every waiter. Path-info discovery is eager: a path's narinfo is asked for as soon as the path is
/// known, and the references in an answer are asked for the moment it arrives, so a closure of depth d
/// costs d + 1 round trips. Blocking work goes to `pool`. Everything here is used from the io_context
/// thread only, except `stop()`, which may be posted from a signal handler's context.

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/build_failure.hh"
#include "ferry/sched/build_machine.hh"
#include "ferry/sched/builder.hh"
#include "ferry/sched/goal.hh"
#include "ferry/sched/platform.hh"
#include "ferry/sched/progress.hh"
#include "ferry/sched/store_view.hh"
#include "ferry/sched/substituter.hh"
#include "ferry/sched/target.hh"
#include "ferry/store/derivation.hh"
#include "ferry/util/event.hh"

namespace ferry {

class Planner;
class MachineSlots;
class RemoteUploads;

struct WorkerOptions {
    /// Build slots of this machine; 0: everything is built on the remote machines, as in Nix.
    unsigned max_jobs = 1;
    bool keep_going = false;
    /// Build a derivation when substituting its output failed.
    bool fallback = false;
    bool substitute = true;
    unsigned cores = 1;
    unsigned max_silent_time = 0;
    /// Bytes of log a builder may write before it is killed (`max-build-log-size`); 0: no limit.
    uint64_t max_log_size = 0;
    unsigned timeout = 0;
    bool keep_failed = false;
    /// Path-info queries handed to the substituters at once (0: no limit). A little above the HTTP
    /// client's connections keeps it saturated, while the rest of a large closure waits here as a few
    /// hundred bytes a path rather than as queued transfers.
    unsigned max_queries = 0;
    /// What this machine builds: a derivation for another system, or requiring a feature it lacks, is
    /// refused before its build (a BuildError with Nix's message).
    Platform platform = Platform::native();
    /// Remote machines (owned by the caller; they outlive the worker): build slots of the same graph
    /// besides this machine's `max_jobs`, chosen by system, features, load and speed factor.
    std::vector<RemoteMachine*> machines;
    /// A remote machine fetches the inputs it lacks from its own substituters first.
    bool builders_use_substitutes = false;
    /// A machine that failed is not contacted for `machine_backoff`, doubling after each failure in a
    /// row up to `machine_max_backoff`; after `machine_max_failures` in a row it is not used again.
    std::chrono::milliseconds machine_backoff{1000};
    std::chrono::milliseconds machine_max_backoff{60000};
    unsigned machine_max_failures = 5;
};

/// How realise() treats the derivations named as targets (Nix's BuildMode).
enum class BuildMode {
    normal,
    /// `--check`: build them again although their outputs are valid, and compare (an output that
    /// differs is an error); their dependencies are realised as usual.
    check,
    /// `--repair`: as check, and when every output of the rebuild has the recorded NAR hash, the rebuilt
    /// trees are swapped in for the valid paths' files (damaged or missing); an output that differs is
    /// an error and changes nothing.
    repair,
};

/// Where a path can be fetched from.
struct SubstituteInfo {
    Substituter* substituter = nullptr;
    std::shared_ptr<const SubstitutablePath> offer;
};

/// The outputs a target stands for once realised: output name → path ("" → the path for a target that
/// is a plain store path).
using RealisedOutputs = std::map<std::string, StorePath>;

/// What realising targets would do (`--dry-run`).
struct MissingPaths {
    StorePathSet will_build;      ///< derivations
    StorePathSet will_substitute; ///< paths to fetch
    StorePathSet unknown;         ///< paths nobody can provide
    uint64_t download_size = 0;   ///< compressed bytes
    uint64_t nar_size = 0;        ///< unpacked bytes
    /// Where each derivation of will_build would be built: "local", the URIs of the remote machines
    /// that could take it, or both ("local, ssh://a"); missing when no machine could.
    std::map<StorePath, std::string> build_machines;
};

/// A realisation that failed: every failed target, or the first failure without keep-going.
class RealiseError : public Error {
public:
    using Error::Error;
    /// Nix's exit status for it (BuildFailures::exit_status(): 100-111, or 1).
    int exit_status() const noexcept { return exit_status_; }
    void set_exit_status(int status) noexcept { exit_status_ = status; }

private:
    int exit_status_ = 1;
};

/// Thrown when stop() was called (SIGINT/SIGTERM): everything was cancelled.
class Interrupted : public Error {
public:
    using Error::Error;
};

class Worker {
public:
    /// `builder` may be null when nothing is to be built (substitution only). Substituters must have
    /// been initialised; they are asked in priority order. `store` (every access of the goals goes
    /// through it, awaited), the substituters, the builder and `progress` must outlive the worker.
    Worker(boost::asio::io_context& io, boost::asio::thread_pool& pool, StoreView& store,
           std::vector<Substituter*> substituters, Builder* builder, WorkerOptions options,
           Progress& progress);
    ~Worker();

    /// Makes every target valid (with BuildMode::check, rebuilds the derivations among them and
    /// compares). Returns what each target stands for, in the order of `targets` (each `.drv` is read
    /// once per run). Throws RealiseError naming the failures, Interrupted after stop().
    boost::asio::awaitable<std::vector<RealisedOutputs>> realise(std::vector<Target> targets,
                                                                 BuildMode mode = BuildMode::normal);
    /// What realise() would fetch and build, without doing it: the same goals take the same decisions
    /// (the planner's), with a runner that records them instead of carrying them out and takes each
    /// output as made valid.
    boost::asio::awaitable<MissingPaths> query_missing(std::vector<Target> targets,
                                                       BuildMode mode = BuildMode::normal);
    /// Cancels every goal (builders are killed, downloads aborted, temporaries removed). Goals finish
    /// asynchronously: realise(), query_missing() and close() wait for them.
    void stop(std::string reason);
    /// Cancels whatever still runs and waits until every task (and the pool work it awaits) has
    /// finished. The worker may be destroyed only after this, or after realise() or query_missing()
    /// returned or threw (they leave nothing running).
    boost::asio::awaitable<void> close();
    bool stopped() const noexcept { return stopped_; }

    // --- For goals -------------------------------------------------------------------------------

    /// Makes `path` valid (by substitution).
    std::shared_ptr<Goal> path_goal(const StorePath& path);
    /// Makes output `output` of derivation `drv` valid (substituting it, or building `drv`).
    std::shared_ptr<Goal> output_goal(const StorePath& drv, const std::string& output);
    /// Builds `drv` (all its outputs).
    std::shared_ptr<Goal> build_goal(const StorePath& drv);
    /// Builds `drv` again, its outputs being valid, and compares (BuildMode::check) or repairs them
    /// (BuildMode::repair).
    std::shared_ptr<Goal> check_goal(const StorePath& drv, BuildMode mode = BuildMode::check);

    /// Where `path` can be substituted from: the first substituter in priority order that has it, asked
    /// once per path and shared. Null when no substituter has it (or substitution is off).
    boost::asio::awaitable<std::optional<SubstituteInfo>> query_substitute(const StorePath& path);
    /// The next substituter after `after` in priority order that has `path`, asked now (not shared): for
    /// a fetch from `after` that failed. Null when none has it.
    boost::asio::awaitable<std::optional<SubstituteInfo>> query_next_substitute(const StorePath& path,
                                                                                const Substituter* after);
    /// The derivation at `drv`, substituting the `.drv` first when it is not valid. Parsed once. Throws
    /// Error "cannot build missing derivation" when it is neither valid nor substitutable. `waiter`: the
    /// goal that asks (see Goal::wait). In a dry run, null when the `.drv` is not valid (what would
    /// fetch it is recorded: nothing more is known of it).
    boost::asio::awaitable<std::shared_ptr<const Derivation>> load_derivation(const StorePath& drv,
                                                                              Goal* waiter = nullptr);

    /// Runs `task` as a tracked coroutine: stop() cancels it, realise() waits for it. `on_abort` runs
    /// instead of what the task's end would do when it fails with an exception, cancelled before it
    /// started included.
    void spawn(std::function<boost::asio::awaitable<void>()> task, std::function<void()> on_abort = {});
    /// A goal failed in a way no one can recover from: without keep-going, stop everything.
    void hard_failure(const Goal& goal);

    StoreView& store() noexcept { return store_; }
    /// The one place that decides, per wanted path or output, what to do.
    Planner& planner() noexcept { return *planner_; }
    /// In a dry run (query_missing()), where the decisions are recorded; null in a real run.
    MissingPaths* dry_run() noexcept { return dry_run_; }
    boost::asio::thread_pool& pool() noexcept { return pool_; }
    boost::asio::any_io_executor executor() { return io_.get_executor(); }
    const WorkerOptions& options() const noexcept { return options_; }
    Progress& progress() noexcept { return progress_; }
    Builder* builder() noexcept { return builder_; }

    // --- Machines (machine_choice.cc) --------------------------------------------------------------

    /// Where `drv` (at `drv_path`) can be built: indices of machine_slots(), 0 for this machine (when
    /// max_jobs > 0 and its platform builds it), i for options().machines[i - 1]; `check` builds stay
    /// here. Outside a dry run, throws BuildError with Nix's message when nowhere (the platform's, after
    /// Nix's warning listing the machines; or "unable to start any build" with max_jobs 0).
    std::vector<size_t> build_candidates(const Derivation& drv, const StorePath& drv_path, bool check);
    /// "local", "ssh://a", "local, ssh://a": the candidates as the dry run names them.
    std::string describe_machines(const std::vector<size_t>& candidates) const;
    /// The build slots of this machine (index 0) and of the remote ones.
    MachineSlots& machine_slots() noexcept { return *slots_; }
    /// The remote machine at index `m` (≥ 1) of machine_slots(), and what was copied to it.
    RemoteMachine& remote_machine(size_t m) { return *options_.machines.at(m - 1); }
    RemoteUploads& uploads(size_t m) { return *uploads_.at(m - 1); }
    /// Machine `m` failed: down with back-off, and a warning naming it and `reason`.
    void machine_down(size_t m, const std::string& reason);
    /// The critical-path height of `drv`: 0 for a target, else 1 + the highest of the builds that need
    /// it. Builds waiting for a slot go highest first.
    unsigned height(const StorePath& drv) const;
    /// `drv` is needed by a build of height `height - 1`: raises its height (and its inputs').
    void raise_height(const StorePath& drv, unsigned height);
    /// The kinds of failed build seen so far (for the exit status).
    BuildFailures& build_failures() noexcept { return build_failures_; }
    const std::vector<Substituter*>& substituters() const noexcept { return substituters_; }

private:
    struct Query;
    struct Task;
    template <typename G, typename Key, typename... Args>
    std::shared_ptr<Goal> get_goal(std::map<Key, std::shared_ptr<Goal>>& goals, const Key& key,
                                   Args&&... args);
    void start(const std::shared_ptr<Goal>& goal);
    /// The machine slots and upload records of options_.machines.
    void init_machines();
    /// Emits a terminal cancellation into every running task.
    void cancel_all();
    /// Before realise() (`dry` false) or query_missing(): forgets the failure that stopped an earlier
    /// call, and the goals of an earlier call of the other kind.
    void begin(bool dry);
    boost::asio::awaitable<void> run_query(std::shared_ptr<Query> q, StorePath path);
    /// The query is over: its waiters wake, and its answer, when `answered`, is kept. Idempotent.
    void finish_query(Query& q, const StorePath& path, bool answered);
    /// Asks substituters_[first…] in order; the first that has `path`.
    boost::asio::awaitable<std::optional<SubstituteInfo>> ask_substituters(const StorePath& path,
                                                                           size_t first);
    /// The goals of `targets` (derivations are loaded for "all outputs"); a target that cannot even be
    /// loaded goes to `failures`.
    boost::asio::awaitable<void>
    start_targets(const std::vector<Target>& targets, BuildMode mode,
                  std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                  std::vector<std::string>& failures);
    /// start_targets(), then waits until every task has finished. Returns what escaped starting them (a
    /// cancellation, or worse: everything was cancelled then). With `cancel_on_failure`, a target that
    /// cannot be loaded stops the rest unless keep-going.
    boost::asio::awaitable<std::exception_ptr>
    run_targets(const std::vector<Target>& targets, BuildMode mode,
                std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                std::vector<std::string>& failures, bool cancel_on_failure);
    /// Raises a cycle among the paths and derivations a dry run visited (CycleError).
    void check_missing_cycles();
    /// The first failure of `tops` (or of a goal), as realise() and query_missing() throw it.
    void throw_failures(const std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                        std::vector<std::string>& failures, std::exception_ptr unexpected);
    boost::asio::awaitable<void> wait_idle();

    boost::asio::io_context& io_;
    boost::asio::thread_pool& pool_;
    StoreView& store_;
    std::unique_ptr<Planner> planner_;
    MissingPaths* dry_run_ = nullptr;
    std::vector<Substituter*> substituters_;
    Builder* builder_;
    WorkerOptions options_;
    Progress& progress_;
    std::unique_ptr<MachineSlots> slots_;
    std::vector<std::unique_ptr<RemoteUploads>> uploads_;
    std::map<StorePath, unsigned> heights_;
    Semaphore query_slots_;

    std::map<StorePath, std::shared_ptr<Goal>> path_goals_;
    std::map<std::pair<StorePath, std::string>, std::shared_ptr<Goal>> output_goals_;
    std::map<StorePath, std::shared_ptr<Goal>> build_goals_;
    std::map<StorePath, std::shared_ptr<Goal>> check_goals_;
    /// Queries in flight, and the answers of finished ones (kept apart: a large closure keeps 100,000
    /// answers, which need no event).
    std::map<StorePath, std::shared_ptr<Query>> queries_;
    std::map<StorePath, std::optional<SubstituteInfo>> answers_;
    std::map<StorePath, std::shared_ptr<const Derivation>> derivations_;
    /// Derivations being read, set when done (each `.drv` is parsed once).
    std::map<StorePath, std::shared_ptr<Event>> loading_;
    /// Whether the goals in the maps are a dry run's.
    bool goals_dry_ = false;

    std::list<std::unique_ptr<Task>> tasks_;
    std::shared_ptr<Event> idle_;
    bool stopped_ = false;
    std::string stop_reason_;
    std::exception_ptr first_failure_;
    BuildFailures build_failures_;
};

} // namespace ferry
