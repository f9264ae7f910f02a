#pragma once
// MachineSlots: the build slots of this machine and of the remote ones, as one pool that ready builds
// wait for. A build names the machines that can take it (its candidates: index 0 is this machine, 1…n
// the remote machines in the order of `builders`); it gets a slot on the candidate that has a free slot,
// is not down, and has the lowest load (running builds / speed factor; this machine counts as speed 1;
// on a tie the lower index, so this machine first). Among waiting builds the highest first (the
// longest path to the targets: the critical path), then the oldest. A machine that failed is down
// until its back-off ends (doubling from `backoff` to `max_backoff`); after `max_failures` failures in
// a row it is not used again in this run, and a build no other candidate can take fails. A machine back
// from its back-off is tried by one build at a time until it answers (mark_answering()), so that a
// machine still down costs one attempt per back-off, not one per slot.
//
// Loop thread only; no I/O (a timer wakes the waiters when a down machine's back-off ends).

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ferry/store/store_path.hh"
#include "ferry/util/event.hh"

namespace ferry {

class MachineSlots {
public:
    using Clock = std::chrono::steady_clock;

    /// One machine: its slots, its speed, its name for messages.
    struct Machine {
        std::string name;
        unsigned jobs = 1;
        double speed = 1.0;
    };

    struct Backoff {
        std::chrono::milliseconds initial{1000};
        std::chrono::milliseconds max{60000};
        unsigned max_failures = 5;
    };

    /// A held slot of one machine; released when destroyed.
    class Slot {
    public:
        Slot() = default;
        Slot(MachineSlots* owner, size_t machine) : owner_(owner), machine_(machine) {}
        Slot(Slot&& o) noexcept : owner_(o.owner_), machine_(o.machine_) { o.owner_ = nullptr; }
        Slot& operator=(Slot&& o) noexcept;
        ~Slot() { release(); }
        void release() noexcept;
        size_t machine() const noexcept { return machine_; }

    private:
        MachineSlots* owner_ = nullptr;
        size_t machine_ = 0;
    };

    MachineSlots(const boost::asio::any_io_executor& ex, std::vector<Machine> machines, Backoff backoff);
    ~MachineSlots();

    /// Waits for a slot on one of `candidates` (indices; not empty) for building `drv` at `height`.
    /// Throws BuildError when every candidate is out of use for good; cancelling the waiter leaves the queue
    /// consistent.
    boost::asio::awaitable<Slot> acquire(const StorePath& drv, unsigned height,
                                         std::vector<size_t> candidates);
    /// `drv`'s height rose: its waiting requests move up the queue.
    void raise_height(const StorePath& drv, unsigned height);

    /// Machine `m` failed (`reason`): down until its back-off ends. Returns how long, or nullopt when
    /// it was down already (one incident reported by several builds) or is now out of use for good
    /// (then `given_up` is set).
    std::optional<std::chrono::milliseconds> mark_down(size_t m, bool& given_up);
    /// Machine `m` answered: its back-off starts again from the beginning.
    void mark_up(size_t m);
    /// Machine `m` answered a request after a failure: all its slots take builds again (its failures
    /// still count until mark_up(), so a machine that answers and then fails every build is given up).
    void mark_answering(size_t m);
    /// Whether `m` may be contacted now.
    bool usable(size_t m) const;

    const Machine& machine(size_t m) const { return machines_.at(m).spec; }
    size_t size() const noexcept { return machines_.size(); }
    /// Builds running on `m`; the most ever at once.
    unsigned running(size_t m) const { return machines_.at(m).running; }
    unsigned peak(size_t m) const { return machines_.at(m).peak; }
    size_t waiting() const noexcept { return queue_.size(); }

private:
    struct State {
        Machine spec;
        unsigned running = 0, peak = 0;
        unsigned failures = 0; ///< in a row
        Clock::time_point down_until{};
        bool dead = false;
        bool probing = false; ///< back from a back-off and not yet answering: one build at a time
    };
    struct Request;
    struct Order {
        bool operator()(const std::shared_ptr<Request>& a, const std::shared_ptr<Request>& b) const;
    };

    void release(size_t m) noexcept;
    /// The slots `m` has now: one while it is probed after a back-off, else all of them.
    unsigned capacity(size_t m) const;
    /// Hands free slots to waiting requests, highest first; fails requests that can never run.
    void dispatch();
    /// The best candidate of `r` with a free slot, if any.
    std::optional<size_t> choose(const Request& r) const;
    /// Whether every candidate of `r` is out of use for good.
    bool hopeless(const Request& r) const;
    /// A timer for the earliest end of a back-off that a waiting request needs.
    void arm_timer();
    void remove(const std::shared_ptr<Request>& r);

    boost::asio::any_io_executor ex_;
    std::vector<State> machines_;
    Backoff backoff_;
    std::set<std::shared_ptr<Request>, Order> queue_;
    std::multimap<StorePath, std::shared_ptr<Request>> by_drv_;
    uint64_t next_seq_ = 0;
    boost::asio::steady_timer timer_;
    std::optional<Clock::time_point> timer_at_;
};

} // namespace ferry
