// The store-view helpers every store shares: the one lock-wait policy and the one way to validity.

#include "ferry/sched/store_view.hh"

#include <algorithm>
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace ferry {

namespace {

/// Waiting for a path lock held elsewhere: first and longest wait between attempts.
constexpr auto kLockWaitFirst = std::chrono::milliseconds(5);
constexpr auto kLockWaitMax = std::chrono::milliseconds(500);

} // namespace

asio::awaitable<bool> StoreView::is_valid(StorePath path) {
    StorePathSet one;
    one.insert(std::move(path));
    auto valid = co_await query_valid(std::move(one));
    co_return !valid.empty();
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
