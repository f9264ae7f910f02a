#pragma once
/// Running coroutines in tests: on the test's own io_context, never longer than a deadline.

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace ferry::test {

/// Runs `io` until `done()` holds or `limit` has passed (or `io` runs out of work). Returns done().
template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done,
               std::chrono::steady_clock::duration limit = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (io.run_one_until(deadline) == 0 && io.stopped()) break;
    }
    return done();
}

/// Runs `task` on `io` to completion and returns its result (or rethrows its exception). Throws
/// std::runtime_error when it has not finished within `limit`.
template <typename T>
T run_task(boost::asio::io_context& io, boost::asio::awaitable<T> task,
           std::chrono::steady_clock::duration limit = std::chrono::seconds(20)) {
    // Shared with the completion handler, which may outlive this call when the task times out.
    struct Outcome {
        bool done = false;
        std::exception_ptr error;
        std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    };
    auto outcome = std::make_shared<Outcome>();
    if constexpr (std::is_void_v<T>) {
        boost::asio::co_spawn(io, std::move(task), [outcome](std::exception_ptr e) {
            outcome->done = true;
            outcome->error = e;
        });
    } else {
        boost::asio::co_spawn(io, std::move(task), [outcome](std::exception_ptr e, T value) {
            outcome->done = true;
            outcome->error = e;
            if (!e) outcome->value.emplace(std::move(value));
        });
    }
    if (!run_until(
            io, [&] { return outcome->done; }, limit))
        throw std::runtime_error("the task timed out");
    if (outcome->error) std::rethrow_exception(outcome->error);
    if constexpr (!std::is_void_v<T>) return std::move(*outcome->value);
}

} // namespace ferry::test
