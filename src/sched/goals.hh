#pragma once
// The goal kinds, private to the scheduler. One kind per file: path_goal.cc, output_goal.cc,
// build_goal.cc.

#include "ferry/sched/goal.hh"
#include "ferry/sched/worker.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

class BuildLog;

/// Whether `e` is a cancellation (stop(), a failure elsewhere without keep-going) rather than a failure.
bool is_cancellation(const std::exception_ptr& e);

/// Makes a store path valid by substituting it; its references first.
class PathGoal final : public Goal {
public:
    PathGoal(Worker& worker, StorePath path);
    /// A waiter that can build instead recovers from this.
    bool failure_is_final() const override { return false; }
    const StorePath& subject() const override { return path_; }

protected:
    boost::asio::awaitable<void> run() override;

private:
    /// Fetches the path from `sub`'s substituter, its references first, reporting to `activity` (null in a
    /// dry run). Sets `references_failed` when the failure is theirs rather than the substituter's.
    /// Fetches the path from `sub` and makes it valid once its references are; `lock` is its lock.
    boost::asio::awaitable<void> fetch_from(const SubstituteInfo& sub, SubstituteActivity* activity,
                                            const StoreLocks* lock, bool& references_failed);
    /// Waits for `references`; a failure among them sets `references_failed`.
    boost::asio::awaitable<void> wait_references(const std::vector<std::shared_ptr<Goal>>& references,
                                                 bool& references_failed);
    StorePath path_;
};

/// Makes one output of a derivation valid: substitutes it when a cache has it, else builds.
class OutputGoal final : public Goal {
public:
    OutputGoal(Worker& worker, StorePath drv, std::string output);
    const StorePath& subject() const override { return drv_; }

protected:
    boost::asio::awaitable<void> run() override;

private:
    StorePath drv_;
    std::string output_;
};

/// Builds a derivation: realises its inputs, takes a build slot, runs the builder, registers outputs.
class BuildGoal final : public Goal {
public:
    BuildGoal(Worker& worker, StorePath drv, BuildMode mode = BuildMode::normal);
    const StorePath& subject() const override { return drv_; }

protected:
    boost::asio::awaitable<void> run() override;

private:
    boost::asio::awaitable<void> build();
    boost::asio::awaitable<void> realise_inputs(const Derivation& drv);
    /// Waits for a slot on one of `candidates` (machine_slots() indices) and builds there; a remote
    /// machine that turns out to be down sends it back to wait.
    boost::asio::awaitable<void> run_somewhere(BuildJob& job, const StoreLocks& locks, BuildLog& log,
                                               const std::vector<size_t>& candidates);
    /// Runs the builder for `job` here and makes its outputs valid (or compares them, checking).
    boost::asio::awaitable<void> run_builder(BuildJob& job, const StoreLocks& locks, BuildLog& log);
    /// Builds `job` on remote machine `machine` (its slot held): copies the inputs it lacks, builds,
    /// makes the outputs it sends back valid. False when the machine is down (marked so; nothing of
    /// the build was made valid): the caller waits for another slot. remote_build.cc.
    boost::asio::awaitable<bool> run_remote(BuildJob& job, const StoreLocks& locks, BuildLog& log,
                                            size_t machine);
    /// Fills `job` (its drv set) for building here or remotely: the input closure, the limits.
    boost::asio::awaitable<void> prepare_job(BuildJob& job, std::map<std::string, StorePath> outputs,
                                             bool check);
    /// A build failed: recorded for the exit status, the log's last lines shown.
    void build_failed(const BuildError& e, const BuildLog& log, bool fixed_output);
    /// Finishes `log` on the pool, even when cancelled; its write error is thrown unless `failed` (the
    /// build's own error is the one to report then).
    boost::asio::awaitable<void> close_log(BuildLog& log, bool failed);
    StorePath drv_;
    BuildMode mode_;
    /// The build as the progress sees it, from the moment it is wanted (inputs realised, a builder
    /// there) to the end of run(): what the counters show of it ends with it.
    std::optional<BuildActivity> activity_;
    /// close_log() ran: the build's log is finished.
    bool log_closed_ = false;
};

} // namespace ferry
