#include "fake_remote.hh"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/store/local_store.hh"
#include "ferry/util/hash.hh"

namespace asio = boost::asio;

namespace ferry::test {

MachineSpec machine_spec(std::string uri, std::vector<std::string> systems, unsigned jobs, double speed,
                         std::set<std::string> supported, std::set<std::string> mandatory) {
    MachineSpec s;
    s.uri = std::move(uri);
    s.systems = std::move(systems);
    s.max_jobs = jobs;
    s.speed_factor = speed;
    s.supported_features = std::move(supported);
    s.mandatory_features = std::move(mandatory);
    return s;
}

void FakeRemoteMachine::contact() {
    contacts.push_back(Clock::now());
    if (dead_) {
        failures.push_back(Clock::now());
        throw MachineDown("cannot connect to '{}': connection refused (injected)", spec_.uri);
    }
}

asio::awaitable<void> FakeRemoteMachine::sleep(std::chrono::milliseconds d) {
    if (d.count() == 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<StorePathSet> FakeRemoteMachine::query_valid(StorePathSet paths, bool substitute) {
    contact();
    substitute_flags.push_back(substitute);
    auto valid = co_await store.query_valid(std::move(paths));
    co_return valid;
}

asio::awaitable<void> FakeRemoteMachine::upload(StoreView&, std::vector<ValidPathInfo> paths) {
    contact();
    co_await sleep(upload_delay_);
    for (const auto& info : paths) {
        for (const auto& r : info.references)
            if (r != info.path && !store.valid(r))
                throw Error("upload of '{}' before its reference '{}'", info.path.to_string(), r.to_string());
        store.add_valid(info.path, info.references);
        uploaded.push_back(info.path);
    }
}

asio::awaitable<std::vector<StagedTree>> FakeRemoteMachine::build(const BuildJob& job, StoreView&) {
    contact();
    const auto& name = job.drv->name;
    for (const auto& in : job.input_closure)
        if (!store.valid(in))
            throw BuildError("input '{}' of '{}' is not valid on '{}'", in.to_string(), name, spec_.uri);
    started.push_back(name);
    jobs.push_back(job);
    ++running;
    peak_running = std::max(peak_running, running);
    struct Done {
        size_t& running;
        ~Done() { --running; }
    } done{running};
    co_await sleep(build_delay_);
    if (dead_ || (die_after_ && built.size() >= *die_after_)) {
        dead_ = true;
        failures.push_back(Clock::now());
        throw MachineDown("connection to '{}' closed while building '{}' (injected)", spec_.uri, name);
    }
    if (job.log) job.log("remote build of " + name + " on " + spec_.uri + "\n");
    std::vector<StagedTree> trees;
    for (const auto& [output, path] : job.outputs) {
        ValidPathInfo info(path, hash_string(HashAlgo::sha256, name + " " + output), 1);
        info.references = job.input_closure;
        info.deriver = job.drv_path;
        store.add_valid(path, info.references);
        trees.push_back(StagedTree{nullptr, std::move(info)});
    }
    built.push_back(name);
    co_return trees;
}

} // namespace ferry::test
