// Worker::query_missing: what realising the targets would fetch and build (`--dry-run`). The same goals
// as realise() run with a dry-run runner (Worker::dry_run()): they take the planner's decisions, record
// them instead of fetching or building, and take each output as made valid (ninja's way). Discovery is
// as eager as a real run's: narinfo queries of a closure go out level after level with no barrier.

#include "ferry/sched/cycle.hh"
#include "ferry/sched/worker.hh"
#include "goals.hh"

namespace asio = boost::asio;

namespace ferry {

asio::awaitable<MissingPaths> Worker::query_missing(std::vector<Target> targets, BuildMode mode) {
    begin(true);
    MissingPaths result;
    dry_run_ = &result;
    struct Reset {
        MissingPaths*& dry;
        ~Reset() { dry = nullptr; }
    } reset{dry_run_};
    std::vector<std::pair<std::string, std::shared_ptr<Goal>>> tops;
    std::vector<std::string> failures;
    auto unexpected = co_await run_targets(targets, mode, tops, failures, false);
    if (!stop_reason_.empty()) throw Interrupted("{}", stop_reason_);
    // A cycle stops the goals that run into it; the dry run names it as such.
    check_missing_cycles();
    if (unexpected && !is_cancellation(unexpected)) std::rethrow_exception(unexpected);
    if (!failures.empty()) throw Error("{}", failures.front());
    for (const auto& [name, goal] : tops)
        if (goal->failed() && !is_cancellation(goal->error())) std::rethrow_exception(goal->error());
    if (first_failure_) std::rethrow_exception(first_failure_);
    co_return result;
}

void Worker::check_missing_cycles() {
    StorePathSet fetched_nodes;
    for (const auto& [p, _] : path_goals_)
        fetched_nodes.insert(p);
    auto fetched = find_cycle(fetched_nodes, [this](const StorePath& p, const auto& add) {
        auto it = answers_.find(p);
        if (it != answers_.end() && it->second)
            for (const auto& r : it->second->offer->info.references)
                add(r);
    });
    if (!fetched.empty()) throw CycleError(store_.store_dir(), fetched);
    StorePathSet built_nodes;
    for (const auto& [d, _] : build_goals_)
        built_nodes.insert(d);
    for (const auto& [d, _] : check_goals_)
        built_nodes.insert(d);
    auto built = find_cycle(built_nodes, [this](const StorePath& drv, const auto& add) {
        auto it = derivations_.find(drv);
        if (it != derivations_.end())
            for (const auto& [input, _] : it->second->input_drvs)
                add(input);
    });
    if (!built.empty()) throw CycleError(store_.store_dir(), built);
}

} // namespace ferry
