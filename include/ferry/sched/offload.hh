#pragma once
/// Runs blocking work (SQLite writes, hashing, unpacking) on a thread pool and resumes the awaiting
/// coroutine on its own executor with the result (or the exception).

#include <optional>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

// The result travels through a std::optional filled on the pool thread rather than through co_spawn's
// completion value: g++ 12 destroys a non-trivial value returned by `co_return co_await co_spawn(...)`
// twice. The work is not cancellable, and is not connected to the caller's cancellation: Asio 1.81
// posts the emission to the pool, where it raced with the spawned coroutine's end (a use after free
// when a build was cancelled while others hashed).
template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> offload(boost::asio::thread_pool& pool, Fn fn) {
    using R = std::invoke_result_t<Fn>;
    if constexpr (std::is_void_v<R>) {
        co_await boost::asio::co_spawn(
            pool.get_executor(), [&fn]() -> boost::asio::awaitable<void> { fn(); co_return; },
            boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), boost::asio::use_awaitable));
    } else {
        std::optional<R> result;
        co_await boost::asio::co_spawn(
            pool.get_executor(),
            [&fn, &result]() -> boost::asio::awaitable<void> {
                result.emplace(fn());
                co_return;
            },
            boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), boost::asio::use_awaitable));
        co_return std::move(*result);
    }
}

} // namespace ferry
