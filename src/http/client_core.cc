#include "client_core.hh"

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>

#include "ferry/util/events.hh"

namespace ferry::http::detail {

namespace asio = boost::asio;

ClientCore::ClientCore(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)), options_(std::move(options)), bulk_timer_(executor_),
      random_(std::random_device{}()) {
    if (options_.max_connections == 0) throw Error("http-connections must be at least 1");
    if (options_.attempts == 0) throw Error("download-attempts must be at least 1");
    ensure_curl_global_init();
    CurlMulti::Limits limits{.max_connections = static_cast<long>(options_.max_connections),
                             .multiplex = options_.http2};
    multi_ = std::make_shared<CurlMulti>(executor_, limits,
                                         [this](CURL* easy, CURLcode result) { on_done(easy, result); });
}

ClientCore::~ClientCore() {
    shutdown();
}

std::shared_ptr<Job> ClientCore::make_job(Request request, Method method) {
    auto job = std::make_shared<Job>(std::move(request), method, options_);
    if (multi_) multi_->prepare(job->transfer.easy());
    // Called by the request's gate from any thread: reach curl from the loop, never from a callback.
    job->transfer.set_resume([weak_self = weak_from_this(), weak_job = std::weak_ptr<Job>(job)] {
        auto self = weak_self.lock();
        if (!self) return;
        asio::post(self->executor_, [weak_self, weak_job] {
            auto self = weak_self.lock();
            auto job = weak_job.lock();
            if (self && job) self->resume(job);
        });
    });
    return job;
}

asio::awaitable<AttemptEnd> ClientCore::attempt(std::shared_ptr<Job> job) {
    // Not a coroutine on purpose: GCC 12 destroys a lambda temporary inside a co_await expression twice
    // (here it would release `job` and the core twice).
    auto initiation = [self = shared_from_this(), job = std::move(job)](auto handler) {
        self->submit(job, std::move(handler));
    };
    return asio::async_initiate<decltype(asio::use_awaitable), void(AttemptEnd)>(std::move(initiation),
                                                                                 asio::use_awaitable);
}

template <typename Handler> void ClientCore::submit(const std::shared_ptr<Job>& job, Handler&& handler) {
    std::uint64_t serial = ++job->serial;
    // Not `job->handler = …`: Boost 1.81's any_completion_handler move assignment recurses forever.
    asio::any_completion_handler<void(AttemptEnd)> erased(std::forward<Handler>(handler));
    job->handler.swap(erased);
    // The erased handler has attached a cancellation state of its own to the caller's slot: listen to
    // that state's slot. (Assigning to the caller's slot would destroy that state under it.)
    job->cancellation = job->handler.get_cancellation_slot();
    if (job->cancellation.is_connected()) {
        job->cancellation.assign([weak_self = weak_from_this(), weak_job = std::weak_ptr<Job>(job),
                                  serial](asio::cancellation_type) {
            // Whoever cancels may be inside a curl callback (a sink): reach curl from the loop instead.
            auto self = weak_self.lock();
            if (!self) return;
            asio::post(self->executor_, [weak_self, weak_job, serial] {
                auto self = weak_self.lock();
                auto job = weak_job.lock();
                if (self && job && job->serial == serial) self->abort(job, AttemptEnd::cancelled);
            });
        });
    }
    if (!multi_) {
        complete(job, AttemptEnd::shut_down);
        return;
    }
    job->state = Job::State::queued;
    auto& queue = queue_of(*job);
    job->queue_position = queue.insert(queue.end(), job);
    ++counters_.queued;
    start_queued();
}

void ClientCore::start_queued() {
    start_jobs(options_.bulk_grace.count() == 0);
    if (!multi_ || queue_.empty() || running_.size() >= options_.max_connections || bulk_timer_armed_) return;
    bulk_timer_armed_ = true;
    bulk_timer_.expires_after(options_.bulk_grace);
    bulk_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (!self || ec) return;
        self->bulk_timer_armed_ = false;
        self->start_jobs(true);
    });
}

void ClientCore::start_jobs(bool bulk) {
    while (multi_ && running_.size() < options_.max_connections &&
           (!urgent_queue_.empty() || (bulk && !queue_.empty()))) {
        auto& queue = urgent_queue_.empty() ? queue_ : urgent_queue_;
        auto job = std::move(queue.front());
        queue.pop_front();
        --counters_.queued;
        start(job);
    }
}

void ClientCore::start(const std::shared_ptr<Job>& job) {
    job->transfer.begin_attempt();
    CURL* easy = job->transfer.easy();
    try {
        multi_->add(easy);
    } catch (const Error& e) {
        warn("cannot start downloading '{}': {}", job->transfer.url(), e.what());
        job->transfer.end_attempt(CURLE_FAILED_INIT);
        complete(job, AttemptEnd::finished);
        return;
    }
    job->state = Job::State::running;
    running_.emplace(easy, job);
    ++counters_.requests_started;
    counters_.active = static_cast<unsigned>(running_.size());
    counters_.peak_active = std::max(counters_.peak_active, counters_.active);
}

void ClientCore::on_done(CURL* easy, CURLcode result) {
    auto it = running_.find(easy);
    if (it == running_.end()) {
        multi_->remove(easy);
        return;
    }
    auto job = std::move(it->second);
    running_.erase(it);
    multi_->remove(easy);
    job->transfer.end_attempt(result);
    counters_.bytes += job->transfer.bytes();
    counters_.active = static_cast<unsigned>(running_.size());
    complete(job, AttemptEnd::finished);
    start_queued();
}

void ClientCore::resume(const std::shared_ptr<Job>& job) {
    if (!multi_ || job->state != Job::State::running) return;
    CURL* easy = job->transfer.easy();
    // Unpausing delivers the held piece at once (our sink may run, or pause it again). A failure there
    // ends the attempt like any transfer error.
    if (CURLcode rc = curl_easy_pause(easy, CURLPAUSE_CONT); rc != CURLE_OK) on_done(easy, rc);
}

void ClientCore::abort(const std::shared_ptr<Job>& job, AttemptEnd end) {
    switch (job->state) {
    case Job::State::idle:
        return;
    case Job::State::queued:
        queue_of(*job).erase(job->queue_position);
        --counters_.queued;
        break;
    case Job::State::running:
        running_.erase(job->transfer.easy());
        multi_->remove(job->transfer.easy());
        counters_.bytes += job->transfer.bytes();
        counters_.active = static_cast<unsigned>(running_.size());
        break;
    }
    complete(job, end);
    start_queued();
}

void ClientCore::complete(const std::shared_ptr<Job>& job, AttemptEnd end) {
    job->state = Job::State::idle;
    if (job->cancellation.is_connected()) job->cancellation.clear();
    job->cancellation = {};
    // Never resume the caller from here (we may be inside curl_multi_socket_action): go through the loop.
    asio::post(executor_, asio::append(std::move(job->handler), end));
}

void ClientCore::shutdown() {
    if (!multi_) return;
    bulk_timer_.cancel();
    auto queued = std::move(urgent_queue_);
    urgent_queue_.clear();
    queued.splice(queued.end(), queue_);
    for (auto& job : queued)
        complete(job, AttemptEnd::shut_down);
    auto running = std::move(running_);
    running_.clear();
    for (auto& [easy, job] : running) {
        multi_->remove(easy);
        complete(job, AttemptEnd::shut_down);
    }
    counters_.active = counters_.queued = 0;
    multi_.reset(); // closes every connection
}

} // namespace ferry::http::detail
