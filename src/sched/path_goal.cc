// PathGoal: make a store path valid by substituting it. The narinfo answer starts the goals of the
// path's references at once (discovery runs ahead), and the NAR download starts at once too; only the
// final registration waits for the references to be valid.

#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"
#include "goals.hh"

namespace asio = boost::asio;

namespace ferry {

PathGoal::PathGoal(Worker& worker, StorePath path)
    : Goal(worker, fmt::format("substituting '{}'", worker.store().print(path))), path_(std::move(path)) {}

asio::awaitable<void> PathGoal::run() {
    auto& store = worker_.store();
    if (store.is_valid_path(path_)) co_return;
    auto sub = co_await worker_.query_substitute(path_);
    if (!sub)
        throw Error("path '{}' is required, but there is no substituter that can provide it", store.print(path_));

    std::vector<std::shared_ptr<Goal>> references;
    for (const auto& r : sub->info->references)
        if (r != path_) references.push_back(worker_.path_goal(r));

    auto& progress = worker_.progress();
    auto& counters = progress.counters;
    ++counters.fetches_expected;
    ++counters.fetches_running;
    counters.download_expected += sub->info->file_size;
    progress.update();
    struct Running {
        Progress& p;
        ~Running() {
            --p.counters.fetches_running;
            p.update();
        }
    } running{progress};

    FetchProgress fetch_progress;
    fetch_progress.on_download = [&progress](uint64_t n) {
        progress.counters.download_bytes += n;
        progress.update();
    };
    std::function<asio::awaitable<void>()> wait_references = [&references]() -> asio::awaitable<void> {
        for (const auto& r : references) co_await r->wait();
    };
    try {
        co_await sub->substituter->fetch(*sub->info, store, fetch_progress, wait_references);
    } catch (const SubstituteError&) {
        throw; // it names the path and the cache already
    } catch (Error& e) {
        e.add_context(fmt::format("cannot substitute '{}' from '{}'", store.print(path_), sub->substituter->uri()));
        throw;
    }
    ++counters.fetches_done;
    progress.message(fmt::format("copied path '{}' from '{}'", store.print(path_), sub->substituter->uri()));
}

} // namespace ferry
