#pragma once
/// The Client's insides: the queue of attempts waiting for a connection slot, the running ones, and the
/// completion of each attempt as an Asio asynchronous operation. Private to the http module.

#include <list>
#include <memory>
#include <random>
#include <unordered_map>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "curl_multi.hh"
#include "ferry/http/client.hh"
#include "transfer.hh"

namespace ferry::http::detail {

/// How an attempt ended, as far as scheduling is concerned; the rest is in the Transfer.
enum class AttemptEnd {
    finished,  ///< curl is done with it (successfully or not: see Transfer::outcome)
    cancelled, ///< the caller cancelled it
    shut_down, ///< the client shut down
};

/// A request going through its attempts: the transfer and, while an attempt is queued or running, the
/// handler to complete and the caller's cancellation slot.
struct Job {
    enum class State { idle, queued, running };

    Job(Request request, Method method, const ClientOptions& options)
        : transfer(std::move(request), method, options) {}

    Transfer transfer;
    State state = State::idle;
    /// Bumped by each attempt, so that a cancellation meant for one attempt never stops the next.
    std::uint64_t serial = 0;
    std::list<std::shared_ptr<Job>>::iterator queue_position;
    boost::asio::any_completion_handler<void(AttemptEnd)> handler;
    boost::asio::cancellation_slot cancellation;
};

/// Shared by the Client and the coroutines of its requests, so that a coroutine resuming after the
/// Client is gone still finds it (shut down). Threading: the client's io_context thread only.
class ClientCore : public std::enable_shared_from_this<ClientCore> {
public:
    ClientCore(boost::asio::any_io_executor executor, ClientOptions options);
    ~ClientCore();

    /// A job for `request`, its easy handle prepared for this client's multi handle.
    std::shared_ptr<Job> make_job(Request request, Method method);

    /// Runs one attempt of `job`: waits for a slot (FIFO), hands it to curl, completes when curl is done
    /// with it, or when cancelled through the awaiting coroutine's cancellation slot, or at shutdown.
    boost::asio::awaitable<AttemptEnd> attempt(std::shared_ptr<Job> job);

    void shutdown();
    bool is_shut_down() const noexcept { return !multi_; }

    const ClientOptions& options() const noexcept { return options_; }
    ClientCounters& counters() noexcept { return counters_; }
    /// A random number in [0, 1) for backoff jitter.
    double jitter() { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }
    const boost::asio::any_io_executor& executor() const noexcept { return executor_; }

private:
    template <typename Handler> void submit(const std::shared_ptr<Job>& job, Handler&& handler);
    void start_queued();
    /// Starts waiting jobs while slots are free: urgent ones at once, the others when `bulk` (the
    /// grace has passed) or when there is no grace.
    void start_jobs(bool bulk);
    void start(const std::shared_ptr<Job>& job);
    void on_done(CURL* easy, CURLcode result);
    /// Unpauses `job`'s transfer after its gate opened (if it still runs).
    void resume(const std::shared_ptr<Job>& job);
    void abort(const std::shared_ptr<Job>& job, AttemptEnd end);
    void complete(const std::shared_ptr<Job>& job, AttemptEnd end);

    boost::asio::any_io_executor executor_;
    ClientOptions options_;
    std::shared_ptr<CurlMulti> multi_;
    /// Waiting attempts: urgent ones first, each queue first in first out.
    std::list<std::shared_ptr<Job>> urgent_queue_;
    std::list<std::shared_ptr<Job>> queue_;
    std::list<std::shared_ptr<Job>>& queue_of(const Job& job) {
        return job.transfer.request().urgent ? urgent_queue_ : queue_;
    }
    std::unordered_map<CURL*, std::shared_ptr<Job>> running_;
    /// Starts non-urgent jobs after the grace (see ClientOptions::bulk_grace).
    boost::asio::steady_timer bulk_timer_;
    bool bulk_timer_armed_ = false;
    ClientCounters counters_;
    std::minstd_rand random_;
};

} // namespace ferry::http::detail
