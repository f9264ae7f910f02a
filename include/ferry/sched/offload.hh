#pragma once
/// Runs blocking work (SQLite writes, hashing, unpacking) on a thread pool and resumes the awaiting
/// coroutine on its own executor with the result (or the exception).

#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> offload(boost::asio::thread_pool& pool, Fn fn) {
    using R = std::invoke_result_t<Fn>;
    co_return co_await boost::asio::co_spawn(
        pool.get_executor(), [fn = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return fn(); },
        boost::asio::use_awaitable);
}

} // namespace ferry
