#pragma once
/// Runs blocking work (SQLite writes, hashing, unpacking) on a thread pool (or a strand of one) and
/// resumes the awaiting coroutine on its own executor with the result (or the exception).
///
/// The work cannot be interrupted, so the wait cannot be either: cancelling the awaiting coroutine
/// takes effect at its next co_await, once the work is done. The caller's frame, which the work may
/// reference, therefore always outlives the work. (An earlier version went through co_spawn, whose
/// cancellation was posted to the pool and could run after the awaiting frame had gone.)

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ferry {

namespace detail {

/// Posts `work` to `ex`; when it has run, `handler` is posted to its own executor, which counts the
/// wait as outstanding work meanwhile (its io_context's run() does not return under it). The handler
/// holds the awaiting frame: it is destroyed only after `work` has returned.
template <typename Executor, typename Work> auto post_and_resume(const Executor& ex, Work work) {
    auto initiate = [ex, work = std::move(work)](auto handler) mutable {
        auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
        boost::asio::post(ex, [work = std::move(work), handler = std::move(handler), home]() mutable {
            work();
            boost::asio::post(home, std::move(handler));
        });
    };
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        std::move(initiate), boost::asio::use_awaitable);
}

} // namespace detail

/// Runs `fn()` on `ex` (a thread pool's executor or a strand of it) and returns its result; rethrows
/// what it throws. `fn` is kept in this coroutine's frame, and what it references must live in the
/// awaiting one: both outlive the work.
// The result travels through a std::optional in this frame rather than as a completion value: g++ 12
// destroys a non-trivial value returned by `co_return co_await …` twice.
template <typename Executor, typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> run_on(Executor ex, Fn fn) {
    using R = std::invoke_result_t<Fn&>;
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
        co_await detail::post_and_resume(ex, [&fn, &error]() noexcept {
            try {
                fn();
            } catch (...) {
                error = std::current_exception();
            }
        });
        if (error) std::rethrow_exception(error);
    } else {
        std::optional<R> result;
        co_await detail::post_and_resume(ex, [&fn, &error, &result]() noexcept {
            try {
                result.emplace(fn());
            } catch (...) {
                error = std::current_exception();
            }
        });
        if (error) std::rethrow_exception(error);
        co_return std::move(*result);
    }
}

/// run_on() the pool's executor.
template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> offload(boost::asio::thread_pool& pool, Fn fn) {
    return run_on(pool.get_executor(), std::move(fn));
}

} // namespace ferry
