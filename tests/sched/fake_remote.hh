#pragma once
// A remote machine for the scheduler's tests: its own map-backed store (FakeStore); query_valid answers
// from it, upload copies the path infos into it, build "runs" for a delay and makes outputs as the
// fake store's builder does (staged trees without files), valid there too. Failures are injected: the
// machine dies (every call throws MachineDown) after a number of builds, or from the start. Every call
// is counted and timed. Loop thread only.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "fake_store.hh"
#include "ferry/sched/build_machine.hh"

namespace ferry::test {

class FakeRemoteMachine final : public RemoteMachine {
public:
    using Clock = std::chrono::steady_clock;

    FakeRemoteMachine(boost::asio::thread_pool& pool, MachineSpec spec,
                      std::chrono::milliseconds build_delay = std::chrono::milliseconds(20))
        : store(pool), spec_(std::move(spec)), build_delay_(build_delay) {}

    /// Its own store: what it has.
    FakeStore store;

    /// Each upload() takes this long (so that two builds overlap in it).
    void set_upload_delay(std::chrono::milliseconds d) { upload_delay_ = d; }
    /// The first `n` builds succeed; the machine dies as the next one ends (it throws MachineDown, and
    /// so does every call from then on).
    void die_after(size_t n) { die_after_ = n; }
    /// Dead from the start: every call throws MachineDown.
    void kill() { dead_ = true; }

    const MachineSpec& spec() const override { return spec_; }
    boost::asio::awaitable<StorePathSet> query_valid(StorePathSet paths, bool substitute) override;
    boost::asio::awaitable<void> upload(StoreView& from, std::vector<ValidPathInfo> paths) override;
    boost::asio::awaitable<std::vector<StagedTree>> build(const BuildJob& job, StoreView& to) override;

    /// The paths uploaded, in order (each as often as it was sent).
    std::vector<StorePath> uploaded;
    /// Derivation names built to the end, and started.
    std::vector<std::string> built, started;
    /// When each call came, and when a call threw MachineDown.
    std::vector<Clock::time_point> contacts, failures;
    /// The `substitute` flag of each query_valid().
    std::vector<bool> substitute_flags;
    /// What the builds were given.
    std::vector<BuildJob> jobs;
    size_t running = 0, peak_running = 0;

private:
    /// Records a contact; throws MachineDown when dead.
    void contact();
    boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);

    MachineSpec spec_;
    std::chrono::milliseconds build_delay_;
    std::chrono::milliseconds upload_delay_{0};
    std::optional<size_t> die_after_;
    bool dead_ = false;
};

/// A spec of `uri` for `systems`, `jobs` slots, speed `speed`.
MachineSpec machine_spec(std::string uri, std::vector<std::string> systems = {"x86_64-linux"},
                         unsigned jobs = 1, double speed = 1, std::set<std::string> supported = {},
                         std::set<std::string> mandatory = {});

} // namespace ferry::test
