// PathGoal: make a store path valid by substituting it, as the planner decides. The substituter's answer
// starts the goals of the path's references at once (discovery runs ahead), and the download starts at
// once too; only the commit of the verified tree waits for the references to be valid. The path's lock
// is taken before anything is fetched (waited for without blocking, as every lock), and its validity
// checked again once held: of several processes that want the path, one fetches it, and the others
// find it valid. When a
// substituter's copy cannot be used (bad signature, missing or corrupt NAR), the next substituter that
// has the path is tried, as Nix does. In a dry run the fetch is recorded instead.

#include <boost/asio/this_coro.hpp>

#include "ferry/sched/worker.hh"
#include "goals.hh"
#include "planner.hh"

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
    auto decision = co_await worker_.planner().decide_path(path_);
    if (decision.kind == Decision::Kind::valid) co_return;
    if (decision.kind == Decision::Kind::unknown) {
        if (auto* dry = worker_.dry_run()) {
            dry->unknown.insert(path_);
            co_return;
        }
        throw Error("path '{}' is required, but there is no substituter that can provide it",
                    store.print(path_));
    }
    auto sub = std::move(*decision.from);
    std::unique_ptr<StoreLocks> lock;
    if (!worker_.dry_run()) {
        StorePathSet one;
        one.insert(path_);
        lock = co_await lock_paths(store, std::move(one));
        if (co_await store.is_valid(path_)) co_return; // another process made it valid meanwhile
    }
    std::optional<SubstituteActivity> activity;
    if (!worker_.dry_run()) activity = worker_.progress().want_substitute(store.print(path_));
    std::vector<std::pair<std::string, std::exception_ptr>> failures; // by substituter
    for (;;) {
        bool references_failed = false;
        try {
            co_await fetch_from(sub, activity ? &*activity : nullptr, lock.get(), references_failed);
            co_return;
        } catch (const Error&) {
            if (references_failed || worker_.stopped()) throw;
            failures.emplace_back(sub.substituter->uri(), std::current_exception());
        }
        auto next = co_await worker_.query_next_substitute(path_, sub.substituter);
        if (!next) break;
        worker_.progress().message(fmt::format("warning: {}; trying '{}'", describe(failures.back().second),
                                               next->substituter->uri()));
        sub = std::move(*next);
    }
    if (failures.size() == 1) std::rethrow_exception(failures.front().second);
    std::string reasons;
    for (const auto& [uri, error] : failures)
        reasons += fmt::format("{}'{}': {}", reasons.empty() ? "" : "; ", uri, reason_of(error));
    throw SubstituteError("cannot substitute '{}' from any of {} substituters: {}", store.print(path_),
                          failures.size(), reasons);
}

asio::awaitable<void> PathGoal::wait_references(const std::vector<std::shared_ptr<Goal>>& references,
                                                bool& references_failed) {
    try {
        for (const auto& r : references)
            co_await r->wait(this);
    } catch (...) {
        references_failed = true;
        throw;
    }
}

asio::awaitable<void> PathGoal::fetch_from(const SubstituteInfo& sub, SubstituteActivity* activity,
                                           const StoreLocks* lock, bool& references_failed) {
    auto& store = worker_.store();
    const SubstitutablePath& offer = *sub.offer;
    std::vector<std::shared_ptr<Goal>> references;
    for (const auto& r : offer.info.references)
        if (r != path_) references.push_back(worker_.path_goal(r));

    if (auto* dry = worker_.dry_run()) {
        // The dry-run runner: the fetch is recorded, and the path taken as valid once its references are.
        if (dry->will_substitute.insert(path_).second) {
            dry->download_size += offer.download_size;
            dry->nar_size += offer.info.nar_size;
        }
        co_await wait_references(references, references_failed);
        co_return;
    }

    activity->begin_copy(sub.substituter->uri(), offer.download_size);
    FetchProgress fetch_progress;
    fetch_progress.on_download = [activity](uint64_t n) { activity->downloaded(n); };
    std::vector<StagedTree> trees;
    std::exception_ptr failure;
    try {
        StagedTree tree = co_await sub.substituter->fetch(offer, store, fetch_progress);
        trees.push_back(std::move(tree));
        co_await wait_references(references, references_failed);
        co_await make_valid(store, std::move(trees), lock);
    } catch (SubstituteError&) {
        failure = std::current_exception(); // it names the path and the cache already
    } catch (Error& e) {
        if (!references_failed)
            e.add_context(
                fmt::format("cannot substitute '{}' from '{}'", store.print(path_), sub.substituter->uri()));
        failure = std::current_exception();
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        activity->end_copy(true);
        // A tree that will not be committed goes off the loop, cancelled or not.
        if (!trees.empty()) {
            co_await asio::this_coro::reset_cancellation_state();
            co_await store.discard(std::move(trees));
        }
        std::rethrow_exception(failure);
    }
    activity->succeeded(); // "copied path '…' from '…'"
}

} // namespace ferry
