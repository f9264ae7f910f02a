#include "ferry/sched/worker.hh"

#include <limits>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "ferry/http/error.hh"
#include "goals.hh"
#include "machine_slots.hh"
#include "planner.hh"
#include "remote_uploads.hh"

namespace asio = boost::asio;

namespace ferry {

struct Worker::Query {
    explicit Query(const asio::any_io_executor& ex) : ready(ex) {}
    Event ready;
    std::optional<SubstituteInfo> result;
};

struct Worker::Task {
    asio::cancellation_signal signal;
    /// Its coroutine has completed; the entry goes at the next turn of the loop.
    bool finished = false;
};

bool is_cancellation(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const boost::system::system_error& se) {
        return se.code() == asio::error::operation_aborted;
    } catch (const http::HttpError& he) {
        return he.kind() == http::HttpError::Kind::cancelled || he.kind() == http::HttpError::Kind::shut_down;
    } catch (...) {
        return false;
    }
}

namespace {

std::string describe(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown error";
    }
}

} // namespace

Worker::Worker(asio::io_context& io, asio::thread_pool& pool, StoreView& store,
               std::vector<Substituter*> substituters, Builder* builder, WorkerOptions options,
               Progress& progress)
    : io_(io), pool_(pool), store_(store), planner_(std::make_unique<Planner>(*this)),
      substituters_(std::move(substituters)), builder_(builder), options_(options), progress_(progress),
      query_slots_(io.get_executor(),
                   options.max_queries ? options.max_queries : std::numeric_limits<size_t>::max()) {
    std::stable_sort(substituters_.begin(), substituters_.end(),
                     [](Substituter* a, Substituter* b) { return a->priority() < b->priority(); });
    init_machines();
}

Worker::~Worker() = default;

void Worker::spawn(std::function<asio::awaitable<void>()> task, std::function<void()> on_abort) {
    tasks_.push_back(std::make_unique<Task>());
    auto it = std::prev(tasks_.end());
    auto slot = (*it)->signal.slot();
    // The task starts from the loop, never inline: co_spawn would otherwise run it inside the caller (deep
    // recursion through a large graph, and cancellations emitted into half-started frames).
    asio::co_spawn(
        io_,
        [this, task = std::move(task)]() -> asio::awaitable<void> {
            co_await asio::post(io_, asio::use_awaitable);
            co_await task();
        },
        asio::bind_cancellation_slot(slot, [this, it, on_abort = std::move(on_abort)](std::exception_ptr e) {
            // Cancelled before it started (or it let an exception out): what it would have
            // finished must still finish, or its waiters would wait for ever.
            if (e && on_abort) on_abort();
            // The signal must outlive the operation it is bound to: drop it afterwards, and
            // emit nothing into it meanwhile.
            (*it)->finished = true;
            asio::post(io_, [this, it] {
                tasks_.erase(it);
                if (tasks_.empty() && idle_) idle_->set();
            });
        }));
    if (stopped_) (*it)->signal.emit(asio::cancellation_type::terminal);
}

void Worker::cancel_all() {
    stopped_ = true;
    for (auto& t : tasks_)
        if (!t->finished) t->signal.emit(asio::cancellation_type::terminal);
}

void Worker::start(const std::shared_ptr<Goal>& goal) {
    spawn(
        [this, goal]() -> asio::awaitable<void> {
            try {
                co_await goal->run();
            } catch (...) {
                goal->error_ = std::current_exception();
            }
            goal->done_.set();
            if (goal->error_ && goal->failure_is_final() && !is_cancellation(goal->error_))
                hard_failure(*goal);
        },
        [goal] {
            if (goal->done()) return;
            goal->error_ =
                std::make_exception_ptr(boost::system::system_error(asio::error::operation_aborted));
            goal->done_.set();
        });
}

void Worker::hard_failure(const Goal& goal) {
    if (!first_failure_) first_failure_ = goal.error();
    if (!options_.keep_going && !stopped_) cancel_all();
}

void Worker::stop(std::string reason) {
    if (!stop_reason_.empty()) return;
    stop_reason_ = reason.empty() ? "interrupted" : std::move(reason);
    cancel_all();
}

asio::awaitable<void> Worker::close() {
    if (!tasks_.empty() && !stopped_) cancel_all();
    co_await wait_idle();
}

template <typename G, typename Key, typename... Args>
std::shared_ptr<Goal> Worker::get_goal(std::map<Key, std::shared_ptr<Goal>>& goals, const Key& key,
                                       Args&&... args) {
    auto& slot = goals[key];
    if (!slot) {
        slot = std::make_shared<G>(*this, std::forward<Args>(args)...);
        start(slot);
    }
    return slot;
}

std::shared_ptr<Goal> Worker::path_goal(const StorePath& path) {
    return get_goal<PathGoal>(path_goals_, path, path);
}

std::shared_ptr<Goal> Worker::output_goal(const StorePath& drv, const std::string& output) {
    return get_goal<OutputGoal>(output_goals_, std::make_pair(drv, output), drv, output);
}

std::shared_ptr<Goal> Worker::build_goal(const StorePath& drv) {
    return get_goal<BuildGoal>(build_goals_, drv, drv);
}

std::shared_ptr<Goal> Worker::check_goal(const StorePath& drv, BuildMode mode) {
    return get_goal<BuildGoal>(check_goals_, drv, drv, mode);
}

asio::awaitable<std::optional<SubstituteInfo>> Worker::query_substitute(const StorePath& path) {
    if (!options_.substitute || substituters_.empty()) co_return std::nullopt;
    if (auto it = answers_.find(path); it != answers_.end()) co_return it->second;
    auto& q = queries_[path];
    if (!q) {
        q = std::make_shared<Query>(executor());
        spawn([this, q, path] { return run_query(q, path); },
              [this, q, path] { finish_query(*q, path, false); });
    }
    auto keep = q;
    co_await keep->ready.wait();
    co_return keep->result;
}

asio::awaitable<void> Worker::run_query(std::shared_ptr<Query> q, StorePath path) {
    // However it ends, the waiters wake; a complete answer is kept for later askers (a cancelled query
    // is asked again next time).
    struct SetOnExit {
        Worker& w;
        Query& q;
        const StorePath& path;
        bool answered = false;
        ~SetOnExit() { w.finish_query(q, path, answered); }
    } set_on_exit{*this, *q, path};
    auto slot = co_await query_slots_.acquire();
    q->result = co_await ask_substituters(path, 0);
    set_on_exit.answered = true;
}

void Worker::finish_query(Query& q, const StorePath& path, bool answered) {
    if (q.ready.is_set()) return;
    if (answered) answers_.emplace(path, q.result);
    queries_.erase(path);
    q.ready.set();
}

asio::awaitable<std::optional<SubstituteInfo>> Worker::ask_substituters(const StorePath& path, size_t first) {
    for (size_t i = first; i < substituters_.size(); ++i) {
        auto* sub = substituters_[i];
        try {
            auto offer = co_await sub->query(path);
            if (offer) co_return SubstituteInfo{sub, std::move(offer)};
        } catch (const Error& e) {
            // A cache that cannot answer is skipped, as Nix does; the path may come from elsewhere.
            progress_.message(fmt::format("warning: {}", e.what()));
        }
    }
    co_return std::nullopt;
}

asio::awaitable<std::optional<SubstituteInfo>> Worker::query_next_substitute(const StorePath& path,
                                                                             const Substituter* after) {
    auto it = std::find(substituters_.begin(), substituters_.end(), after);
    if (!options_.substitute || it == substituters_.end()) co_return std::nullopt;
    auto slot = co_await query_slots_.acquire();
    auto next = co_await ask_substituters(path, size_t(it - substituters_.begin()) + 1);
    co_return next;
}

asio::awaitable<std::shared_ptr<const Derivation>> Worker::load_derivation(const StorePath& drv,
                                                                           Goal* waiter) {
    for (;;) {
        if (auto it = derivations_.find(drv); it != derivations_.end()) co_return it->second;
        auto loading = loading_.find(drv);
        if (loading == loading_.end()) break;
        // Another goal reads it: parsed once. When that load fails, this one tries (and throws) itself.
        auto keep = loading->second;
        co_await keep->wait();
        if (!derivations_.count(drv)) break;
    }
    if (!co_await store_.is_valid(drv)) {
        // As Nix: a derivation that is not valid may come from a substituter.
        auto sub = co_await query_substitute(drv);
        if (dry_run_) {
            // What would fetch it is recorded by its goal; nothing more is known of it.
            co_await path_goal(drv)->wait(waiter);
            co_return nullptr;
        }
        if (!sub)
            throw Error("cannot build missing derivation '{}': it is not valid, and no substituter has it",
                        store_.print(drv));
        auto goal = path_goal(drv);
        try {
            co_await goal->wait(waiter);
        } catch (const Error& e) {
            if (is_cancellation(std::current_exception())) throw;
            throw Error("cannot build missing derivation '{}': {}", store_.print(drv), e.what());
        }
    }
    auto done = std::make_shared<Event>(executor());
    loading_[drv] = done;
    struct Done {
        Worker& w;
        const StorePath& drv;
        std::shared_ptr<Event> event;
        ~Done() {
            if (auto it = w.loading_.find(drv); it != w.loading_.end() && it->second == event)
                w.loading_.erase(it);
            event->set();
        }
    } on_exit{*this, drv, done};
    auto parsed = co_await store_.read_derivation(drv);
    co_return derivations_.emplace(drv, std::move(parsed)).first->second;
}

asio::awaitable<void> Worker::wait_idle() {
    while (!tasks_.empty()) {
        idle_ = std::make_shared<Event>(executor());
        auto keep = idle_;
        co_await keep->wait();
    }
}

asio::awaitable<void> Worker::start_targets(const std::vector<Target>& targets, BuildMode mode,
                                            std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                                            std::vector<std::string>& failures) {
    for (const auto& t : targets) {
        if (!t.is_build()) {
            tops.emplace_back(store_.print(t.path), path_goal(t.path));
            continue;
        }
        if (mode == BuildMode::check || mode == BuildMode::repair) {
            tops.emplace_back(t.to_string(store_.store_dir()), check_goal(t.path, mode));
            continue;
        }
        auto outputs = t.outputs;
        if (outputs.empty()) {
            std::shared_ptr<const Derivation> drv;
            std::exception_ptr error;
            try {
                drv = co_await load_derivation(t.path);
            } catch (const Error&) {
                error = std::current_exception();
            }
            if (error) {
                if (!is_cancellation(error)) failures.push_back(describe(error));
                continue;
            }
            if (!drv) continue; // a dry run: its fetch is recorded
            for (const auto& [name, _] : drv->outputs)
                outputs.insert(name);
        }
        for (const auto& o : outputs)
            tops.emplace_back(t.to_string(store_.store_dir()), output_goal(t.path, o));
    }
}

void Worker::begin(bool dry) {
    // The goals of a dry run made nothing valid: a real run (and the other way round) starts afresh.
    if (dry != goals_dry_) {
        path_goals_.clear();
        output_goals_.clear();
        build_goals_.clear();
        check_goals_.clear();
        goals_dry_ = dry;
    }
    // A failure of an earlier call stopped everything then; a stop() (a signal) stays in force.
    if (!stop_reason_.empty()) return;
    stopped_ = false;
    first_failure_ = nullptr;
}

asio::awaitable<std::exception_ptr>
Worker::run_targets(const std::vector<Target>& targets, BuildMode mode,
                    std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                    std::vector<std::string>& failures, bool cancel_on_failure) {
    std::exception_ptr unexpected;
    try {
        co_await start_targets(targets, mode, tops, failures);
    } catch (...) {
        // Cancelled while loading a derivation, or worse: nothing may outlive the call either way.
        unexpected = std::current_exception();
        if (!stopped_) cancel_all();
    }
    if (cancel_on_failure && !failures.empty() && !options_.keep_going && !stopped_) cancel_all();
    co_await wait_idle();
    co_return unexpected;
}

asio::awaitable<std::vector<RealisedOutputs>> Worker::realise(std::vector<Target> targets, BuildMode mode) {
    begin(false);
    std::vector<std::pair<std::string, std::shared_ptr<Goal>>> tops;
    std::vector<std::string> failures;
    auto unexpected = co_await run_targets(targets, mode, tops, failures, true);
    throw_failures(tops, failures, unexpected);

    std::vector<RealisedOutputs> realised;
    for (const auto& t : targets) {
        RealisedOutputs outputs;
        if (!t.is_build()) {
            outputs.emplace("", t.path);
        } else {
            auto drv = co_await load_derivation(t.path); // read by its goals already
            for (const auto& [name, _] : drv->outputs)
                if (t.outputs.empty() || t.outputs.count(name))
                    outputs.emplace(name, drv->output_path(store_.store_dir(), name));
        }
        realised.push_back(std::move(outputs));
    }
    co_return realised;
}

void Worker::throw_failures(const std::vector<std::pair<std::string, std::shared_ptr<Goal>>>& tops,
                            std::vector<std::string>& failures, std::exception_ptr unexpected) {
    if (!stop_reason_.empty()) throw Interrupted("{}", stop_reason_);
    if (unexpected && !is_cancellation(unexpected)) std::rethrow_exception(unexpected);
    for (const auto& [name, goal] : tops) {
        if (!goal->failed()) continue;
        if (is_cancellation(goal->error())) continue;
        failures.push_back(describe(goal->error()));
    }
    if (failures.empty() && first_failure_) failures.push_back(describe(first_failure_));
    if (failures.empty() && unexpected) std::rethrow_exception(unexpected);
    if (failures.empty()) return;
    auto error = failures.size() == 1
                     ? RealiseError("{}", failures.front())
                     : RealiseError("{} targets failed; the first: {}", failures.size(), failures.front());
    error.set_exit_status(build_failures_.exit_status());
    throw error;
}

} // namespace ferry
