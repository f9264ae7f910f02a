// The store-view helpers every store shares: the one lock-wait policy and the one way to validity.

#include "ferry/sched/store_view.hh"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/util/event.hh"
#include "ferry/util/finally.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// Waiting for a path lock held elsewhere: first and longest wait between attempts.
constexpr auto kLockWaitFirst = std::chrono::milliseconds(5);
constexpr auto kLockWaitMax = std::chrono::milliseconds(500);

} // namespace

/// The paths is_valid() was asked for on one turn of the loop, and, once `done`, which of them are valid.
struct StoreView::ValidityBatch {
    explicit ValidityBatch(const asio::any_io_executor& ex) : done(ex) {}
    StorePathSet paths;
    StorePathSet valid;
    bool answered = false;
    Event done;
};

asio::awaitable<bool> StoreView::is_valid(StorePath path) {
    if (auto batch = open_batch_) {
        // Another call of this turn asks for everyone.
        batch->paths.insert(path);
        co_await batch->done.wait();
        if (batch->answered) co_return batch->valid.count(path) > 0;
        // Its query failed or was cancelled: ask alone.
        StorePathSet one{path};
        co_return !(co_await query_valid(std::move(one))).empty();
    }
    auto ex = co_await asio::this_coro::executor;
    auto batch = std::make_shared<ValidityBatch>(ex);
    open_batch_ = batch;
    batch->paths.insert(path);
    // However this ends, the others wake.
    Finally wake([this, &batch] {
        if (open_batch_ == batch) open_batch_.reset();
        batch->done.set();
    });
    // One turn of the loop: the goals that run on it add their paths.
    co_await asio::post(ex, asio::use_awaitable);
    open_batch_.reset();
    batch->valid = co_await query_valid(batch->paths);
    batch->answered = true;
    co_return batch->valid.count(path) > 0;
}

asio::awaitable<std::unique_ptr<StoreLocks>> lock_paths(StoreView& store, StorePathSet paths) {
    auto locks = co_await store.try_lock(paths);
    if (locks) co_return locks;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (auto delay = kLockWaitFirst; !locks; delay = std::min(delay * 2, kLockWaitMax)) {
        timer.expires_after(delay);
        co_await timer.async_wait(asio::use_awaitable);
        locks = co_await store.try_lock(paths);
    }
    co_return locks;
}

asio::awaitable<void> make_valid(StoreView& store, std::vector<StagedTree> trees, const StoreLocks* held) {
    std::unique_ptr<StoreLocks> locks;
    if (!held) {
        StorePathSet paths;
        for (const auto& t : trees)
            paths.insert(t.info.path);
        std::exception_ptr error;
        try {
            locks = co_await lock_paths(store, std::move(paths));
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            // Cancelled while waiting: the trees go, off the loop.
            co_await asio::this_coro::reset_cancellation_state();
            co_await store.discard(std::move(trees));
            std::rethrow_exception(error);
        }
    }
    co_await store.commit(std::move(trees));
}

} // namespace ferry
