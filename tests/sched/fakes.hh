#pragma once
// Test doubles for the scheduler (ninja's way: scheduling tested without processes or sockets): a
// substituter serving NARs from memory after a delay, and a builder that writes its outputs after a
// delay (or, for a store without files, none). Both run on the worker's io_context and record what they
// were asked. The map-backed store is in fake_store.hh.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/sched/progress.hh"
#include "ferry/sched/substituter.hh"
#include "ferry/store/derivation_hash.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"

namespace ferry::test {

/// A NAR of a single regular file with `contents`.
std::string file_nar(std::string_view contents);

class FakeSubstituter : public Substituter {
public:
    using Clock = std::chrono::steady_clock;

    explicit FakeSubstituter(StoreDir dir, std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                             std::string uri = "fake://cache", int priority = 40)
        : dir_(std::move(dir)), delay_(delay), uri_(std::move(uri)), priority_(priority) {}

    /// Offers `path` with `references`; its contents mention every reference.
    void add(const StorePath& path, const StorePathSet& references);
    /// fetch() of `path` fails with a SubstituteError.
    void fail_fetch(const StorePath& path) { failing_.insert(path); }

    const std::string& uri() const override { return uri_; }
    int priority() const override { return priority_; }
    boost::asio::awaitable<void> init() override { co_return; }
    boost::asio::awaitable<std::shared_ptr<const SubstitutablePath>> query(const StorePath& path) override;
    /// Unpacks the NAR into `store.stage()` (nothing when the store keeps no files).
    boost::asio::awaitable<StagedTree> fetch(const SubstitutablePath& path, StoreView& store,
                                             FetchProgress& progress) override;

    /// When each query was sent, relative to the first one.
    std::vector<std::pair<StorePath, Clock::duration>> query_log;
    size_t fetches = 0;

private:
    boost::asio::awaitable<void> sleep();

    StoreDir dir_;
    std::chrono::milliseconds delay_;
    std::string uri_;
    int priority_;
    std::map<StorePath, std::pair<std::shared_ptr<SubstitutablePath>, std::string>> paths_;
    std::set<StorePath> failing_;
    std::optional<Clock::time_point> first_query_;
};

/// Progress that keeps the messages.
struct RecordingProgress : Progress {
    void message(std::string_view m) override { messages.emplace_back(m); }
    std::vector<std::string> messages;
};

/// Writes its outputs under the job's scratch_parent; with none (a store without files), makes no files
/// and reports no locations.
class FakeBuilder : public Builder {
public:
    explicit FakeBuilder(std::chrono::milliseconds delay = std::chrono::milliseconds(10)) : delay_(delay) {}

    /// Builds of derivations with this name exit with an error.
    void fail(const std::string& drv_name) { failing_.insert(drv_name); }
    /// Builds of this derivation take `delay` instead.
    void slow(const std::string& drv_name, std::chrono::milliseconds delay) { slow_[drv_name] = delay; }

    boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob& job) override;
    std::string_view name() const override { return "fake"; }

    std::map<std::string, int> started;   ///< by derivation name
    std::vector<std::string> start_order; ///< derivation names, as their builds started
    std::map<std::string, int> finished;  ///< successfully, by derivation name
    std::map<std::string, int> cancelled; ///< by derivation name
    size_t running = 0, peak_running = 0;

private:
    std::chrono::milliseconds delay_;
    std::set<std::string> failing_;
    std::map<std::string, std::chrono::milliseconds> slow_;
};

/// A derivation named `name` with `outputs` whose inputs are the "out" outputs of `inputs`; its output
/// paths are not filled in. Its builder is never run for real.
Derivation test_derivation(const std::string& name, const std::vector<StorePath>& inputs,
                           const std::vector<std::string>& outputs = {"out"});

/// Makes a derivation named `name` whose inputs are the "out" outputs of `inputs`, adds it to `store`
/// and returns its path. Its builder is never run for real.
StorePath add_test_derivation(LocalStore& store, const std::string& name,
                              const std::vector<StorePath>& inputs,
                              const std::vector<std::string>& outputs = {"out"},
                              DerivationHasher* hasher = nullptr);

} // namespace ferry::test
