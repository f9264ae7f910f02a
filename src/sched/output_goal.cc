// OutputGoal: make one output of a derivation valid. A cache that has it is used; otherwise (or, with
// --fallback, when substitution fails) the derivation is built.

#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"
#include "goals.hh"

namespace asio = boost::asio;

namespace ferry {

OutputGoal::OutputGoal(Worker& worker, StorePath drv, std::string output)
    : Goal(worker, fmt::format("realising output '{}' of '{}'", output, worker.store().print(drv))),
      drv_(std::move(drv)), output_(std::move(output)) {}

asio::awaitable<void> OutputGoal::run() {
    auto& store = worker_.store();
    auto drv = co_await worker_.load_derivation(drv_, this);
    auto out = drv->output_path(store.store_dir(), output_);
    if (store.is_valid_path(out)) co_return;

    auto substitute = co_await worker_.query_substitute(out);
    if (substitute) {
        try {
            auto goal = worker_.path_goal(out);
            co_await goal->wait(this);
            co_return;
        } catch (const Error& e) {
            if (!worker_.options().fallback) throw;
            worker_.progress().message(fmt::format("warning: {}; falling back to building", e.what()));
        }
    }
    auto build = worker_.build_goal(drv_);
    co_await build->wait(this);
    if (!store.is_valid_path(out))
        throw BuildError("building '{}' did not make its output '{}' valid", store.print(drv_), output_);
}

} // namespace ferry
