#include "ferry/sched/goal.hh"

#include "ferry/sched/cycle.hh"
#include "ferry/sched/worker.hh"

namespace ferry {

Goal::Goal(Worker& worker, std::string name)
    : worker_(worker), name_(std::move(name)), done_(worker.executor()) {}

void Goal::check_no_cycle(const Goal& waiter) const {
    // The wait-for graph has at most one edge out of each goal and never a cycle (this check keeps it
    // so), so the walk ends: at a goal that is not waiting, or at the waiter.
    std::vector<const Goal*> chain;
    for (const Goal* g = this; g; g = g->waiting_on_) {
        chain.push_back(g);
        if (g != &waiter) continue;
        std::vector<StorePath> cycle;
        for (const Goal* c : chain)
            if (cycle.empty() || cycle.back() != c->subject()) cycle.push_back(c->subject());
        if (cycle.size() > 1 && cycle.back() == cycle.front()) cycle.pop_back();
        cycle.push_back(cycle.front());
        throw CycleError(worker_.store().store_dir(), cycle);
    }
}

boost::asio::awaitable<void> Goal::wait(Goal* waiter) {
    // Keep ourselves alive while suspended: the worker may drop its reference meanwhile.
    auto self = shared_from_this();
    if (!done() && waiter) {
        check_no_cycle(*waiter);
        waiter->waiting_on_ = this;
        struct Clear {
            Goal& waiter;
            ~Clear() { waiter.waiting_on_ = nullptr; }
        } clear{*waiter};
        co_await done_.wait();
    } else {
        co_await done_.wait();
    }
    if (error_) std::rethrow_exception(error_);
}

} // namespace ferry
