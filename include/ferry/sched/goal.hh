#pragma once
/// A goal: one unit of the worker's graph (make a path valid, realise a derivation output, build a
/// derivation). The worker keeps one goal per key and shares it between every waiter. A goal runs as
/// a coroutine on the worker's io_context; its state is touched from that thread only.

#include <exception>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "ferry/store/store_path.hh"
#include "ferry/util/event.hh"

namespace ferry {

class Worker;

class Goal : public std::enable_shared_from_this<Goal> {
public:
    Goal(Worker& worker, std::string name);
    virtual ~Goal() = default;
    Goal(const Goal&) = delete;
    Goal& operator=(const Goal&) = delete;

    /// "building '/nix/store/…drv'", "substituting '/nix/store/…'": for messages and errors.
    const std::string& name() const noexcept { return name_; }
    bool done() const noexcept { return done_.is_set(); }
    bool failed() const noexcept { return done() && error_ != nullptr; }
    std::exception_ptr error() const noexcept { return error_; }

    /// Waits until the goal has finished; rethrows its failure. `waiter` is the goal whose coroutine
    /// waits (null for anything else): a wait that would close a cycle of goals waiting for each other
    /// throws CycleError naming their paths instead of hanging. Each goal waits for one goal at a time.
    boost::asio::awaitable<void> wait(Goal* waiter = nullptr);
    /// The store path the goal is about (the path, or the derivation), for cycle messages.
    virtual const StorePath& subject() const = 0;
    /// Whether a failure of this goal is final (a build, a wanted output) rather than one a waiter may
    /// recover from (a substitution, which can fall back to building).
    virtual bool failure_is_final() const { return true; }

protected:
    /// The goal's work. Throwing fails the goal (and its waiters).
    virtual boost::asio::awaitable<void> run() = 0;

    Worker& worker_;

private:
    friend class Worker;
    /// Throws CycleError when `waiter` waiting for this goal would close a cycle.
    void check_no_cycle(const Goal& waiter) const;

    std::string name_;
    Event done_;
    std::exception_ptr error_;
    /// The goal this one's coroutine is waiting for, if any (the edges of the wait-for graph).
    const Goal* waiting_on_ = nullptr;
};

} // namespace ferry
