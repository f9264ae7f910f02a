// PathGoal: make a store path valid by substituting it. The narinfo answer starts the goals of the
// path's references at once (discovery runs ahead), and the NAR download starts at once too; only the
// final registration waits for the references to be valid. When a substituter's copy cannot be used
// (bad signature, missing or corrupt NAR), the next substituter that has the path is tried, as Nix does.

#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"
#include "goals.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// Why one substituter failed, without the "cannot substitute … from …" that the caller adds.
std::string reason_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const Error& e) {
        return e.contexts().empty() ? e.what() : e.message();
    } catch (const std::exception& e) {
        return e.what();
    }
}

std::string describe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    }
}

} // namespace

PathGoal::PathGoal(Worker& worker, StorePath path)
    : Goal(worker, fmt::format("substituting '{}'", worker.store().print(path))), path_(std::move(path)) {}

asio::awaitable<void> PathGoal::run() {
    auto& store = worker_.store();
    if (store.is_valid_path(path_)) co_return;
    auto sub = co_await worker_.query_substitute(path_);
    if (!sub)
        throw Error("path '{}' is required, but there is no substituter that can provide it",
                    store.print(path_));

    ++worker_.progress().counters.fetches_expected;
    std::vector<std::pair<std::string, std::exception_ptr>> failures; // by substituter
    for (;;) {
        bool references_failed = false;
        try {
            co_await fetch_from(*sub, references_failed);
            co_return;
        } catch (const Error&) {
            if (references_failed || worker_.stopped()) throw;
            failures.emplace_back(sub->substituter->uri(), std::current_exception());
        }
        auto next = co_await worker_.query_next_substitute(path_, sub->substituter);
        if (!next) break;
        worker_.progress().message(fmt::format("warning: {}; trying '{}'", describe(failures.back().second),
                                               next->substituter->uri()));
        sub = std::move(next);
    }
    if (failures.size() == 1) std::rethrow_exception(failures.front().second);
    std::string reasons;
    for (const auto& [uri, error] : failures)
        reasons += fmt::format("{}'{}': {}", reasons.empty() ? "" : "; ", uri, reason_of(error));
    throw SubstituteError("cannot substitute '{}' from any of {} substituters: {}", store.print(path_),
                          failures.size(), reasons);
}

asio::awaitable<void> PathGoal::fetch_from(const SubstituteInfo& sub, bool& references_failed) {
    auto& store = worker_.store();
    std::vector<std::shared_ptr<Goal>> references;
    for (const auto& r : sub.info->references)
        if (r != path_) references.push_back(worker_.path_goal(r));

    auto& progress = worker_.progress();
    auto& counters = progress.counters;
    ++counters.fetches_running;
    counters.download_expected += sub.info->file_size;
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
    std::function<asio::awaitable<void>()> wait_references = [this, &references,
                                                              &references_failed]() -> asio::awaitable<void> {
        try {
            for (const auto& r : references)
                co_await r->wait(this);
        } catch (...) {
            references_failed = true;
            throw;
        }
    };
    try {
        co_await sub.substituter->fetch(*sub.info, store, fetch_progress, wait_references);
    } catch (const SubstituteError&) {
        counters.download_expected -= sub.info->file_size;
        throw; // it names the path and the cache already
    } catch (Error& e) {
        if (!references_failed)
            e.add_context(
                fmt::format("cannot substitute '{}' from '{}'", store.print(path_), sub.substituter->uri()));
        throw;
    }
    ++counters.fetches_done;
    progress.message(fmt::format("copied path '{}' from '{}'", store.print(path_), sub.substituter->uri()));
}

} // namespace ferry
