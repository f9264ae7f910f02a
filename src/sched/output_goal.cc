// OutputGoal: make one output of a derivation valid, as the planner decides: substitute it from the cache
// that has it, or build the derivation (also, with --fallback, when substitution failed). In a dry run
// the same goals record the decisions.

#include "ferry/sched/worker.hh"
#include "goals.hh"
#include "planner.hh"

namespace asio = boost::asio;

namespace ferry {

OutputGoal::OutputGoal(Worker& worker, StorePath drv, std::string output)
    : Goal(worker, fmt::format("realising output '{}' of '{}'", output, worker.store().print(drv))),
      drv_(std::move(drv)), output_(std::move(output)) {}

asio::awaitable<void> OutputGoal::run() {
    auto& store = worker_.store();
    auto drv = co_await worker_.load_derivation(drv_, this);
    if (!drv) co_return; // a dry run: the `.drv` would be fetched first
    auto out = drv->output_path(store.store_dir(), output_);
    auto decision = co_await worker_.planner().decide_output(out);
    if (decision.kind == Decision::Kind::valid) co_return;

    if (decision.kind == Decision::Kind::substitute) {
        try {
            auto goal = worker_.path_goal(out);
            co_await goal->wait(this);
            co_return;
        } catch (const Error& e) {
            auto next = worker_.planner().after_failed_substitution();
            if (!next) throw;
            decision = *next;
            worker_.progress().message(fmt::format("warning: {}; falling back to building", e.what()));
        }
    }
    auto build = worker_.build_goal(drv_);
    co_await build->wait(this);
    if (worker_.dry_run()) co_return; // taken as valid
    if (!co_await store.is_valid(out))
        throw BuildError("building '{}' did not make its output '{}' valid", store.print(drv_), output_);
}

} // namespace ferry
