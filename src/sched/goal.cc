#include "ferry/sched/goal.hh"

#include "ferry/sched/worker.hh"

namespace ferry {

Goal::Goal(Worker& worker, std::string name) : worker_(worker), name_(std::move(name)), done_(worker.executor()) {}

boost::asio::awaitable<void> Goal::wait() {
    // Keep ourselves alive while suspended: the worker may drop its reference meanwhile.
    auto self = shared_from_this();
    co_await done_.wait();
    if (error_) std::rethrow_exception(error_);
}

} // namespace ferry
