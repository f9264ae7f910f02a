#include "session.hh"

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>

#include "ferry/cache/open_substituters.hh"
#include "ferry/remote/ssh_machine.hh"
#include "ferry/sandbox/make_builder.hh"
#include "ferry/sched/local_store_view.hh"
#include "ferry/store/auto_gc.hh"
#include "machines.hh"

namespace asio = boost::asio;

namespace ferry::cli {

Settings load_settings(const GlobalOptions& global) {
    Settings s;
    s.load_default_config();
    for (const auto& file : s.files_read)
        log_at(Level::talkative, "read configuration file '{}'", file.string());
    for (const auto& i : s.ignored)
        log_debug("{}: ignoring unknown setting '{}'", i.where, i.name);
    for (const auto& o : global.options) {
        // As Nix: a setting the command line names but nobody knows is a warning.
        if (!Settings::known(o.name)) {
            warn("unknown setting '{}'", o.name);
            continue;
        }
        s.set(o.name, o.value, o.flag);
    }
    return s;
}

Session::Session(const GlobalOptions& global, Settings settings, bool print_build_logs)
    : settings_(std::move(settings)), store_(open_local_store(global)),
      pool_(std::max(2u, std::thread::hardware_concurrency())), progress_(std::make_unique<Progress>()),
      signals_(io_, SIGINT, SIGTERM) {
    console().set_verbosity(global.verbosity);
    if (print_build_logs) console().set_print_build_logs(true);
    console().attach(io_);
}

Session::~Session() {
    // The work is over: a signal from now on must not kill the process half-way through its exit
    // (the default action, once signals_ is gone). Blocked, it is dropped at exit.
    sigset_t set;
    ::sigemptyset(&set);
    ::sigaddset(&set, SIGINT);
    ::sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    console().finish();
    console().detach();
    pool_.join();
}

asio::awaitable<void> Session::open_substituters() {
    substituters_.clear();
    if (!settings_.substitute || settings_.substituters.empty()) co_return;
    auto warn = [](const std::string& text) { ferry::warn("{}", text); };
    auto context = make_binary_cache_context(settings_, store_->store_dir(), io_.get_executor(), pool_, warn);
    auto opened = co_await ferry::open_substituters(context, settings_.substituters, warn);
    substituters_ = std::move(opened);
}

std::unique_ptr<Builder> Session::make_session_builder() {
    BuilderContext context;
    context.diverted_store =
        store_->config().real_store_dir() != std::filesystem::path(store_->store_dir().dir());
    context.warn = [](std::string_view message) { ferry::warn("{}", message); };
    return make_builder(settings_, context);
}

WorkerOptions Session::worker_options() const {
    WorkerOptions options;
    options.max_jobs = settings_.effective_max_jobs();
    options.keep_going = settings_.keep_going;
    options.fallback = settings_.fallback;
    options.substitute = settings_.substitute;
    options.cores = settings_.cores ? settings_.cores : std::max(1u, std::thread::hardware_concurrency());
    options.max_silent_time = settings_.max_silent_time;
    options.timeout = settings_.timeout;
    options.max_log_size = settings_.max_build_log_size;
    options.keep_failed = settings_.keep_failed;
    options.max_queries = 2 * std::max(1u, settings_.http_connections);
    options.platform = Platform::from(settings_);
    for (auto& m : machines_)
        options.machines.push_back(m.get());
    options.builders_use_substitutes = settings_.builders_use_substitutes;
    return options;
}

void Session::watch_signals() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (!signal_exit_) {
            signal_exit_ = 128 + sig;
            stop_reason_ = sig == SIGINT ? "interrupted by SIGINT" : "terminated by SIGTERM";
        }
        if (running_) running_->stop(stop_reason_);
        // Keep catching: a second signal must not kill us while the worker cleans up.
        watch_signals();
    });
}

void Session::check_interrupted() {
    if (!signal_exit_) {
        // A signal that came while no one waited is queued in the signal set: a wait sees it at once.
        watch_signals();
        io_.restart();
        io_.poll();
        signals_.cancel();
        io_.poll();
        io_.restart();
    }
    if (signal_exit_) throw Interrupted("{}", stop_reason_);
}

int Session::exit_code() {
    try {
        check_interrupted();
    } catch (const Interrupted& e) {
        log_error("{}", e.what());
        return signal_exit_;
    }
    return 0;
}

asio::awaitable<void> Session::run_worker(std::function<asio::awaitable<void>(Worker&)> body,
                                          WorkerOptions options) {
    watch_signals();
    // Once the body is done nothing else may keep the loop running: no signal wait, no substituter (their
    // HTTP client and background requests go with them).
    struct Cleanup {
        asio::signal_set& signals;
        std::vector<std::unique_ptr<Substituter>>& substituters;
        ~Cleanup() {
            boost::system::error_code ec;
            signals.cancel(ec);
            substituters.clear();
        }
    } cleanup{signals_, substituters_};
    co_await open_substituters();
    if (signal_exit_) throw Interrupted("{}", stop_reason_);

    std::vector<Substituter*> subs;
    for (auto& s : substituters_)
        subs.push_back(s.get());
    LocalStoreView view(*store_, pool_);
    std::unique_ptr<AutoGc> auto_gc;
    if (settings_.min_free) {
        GcOptions gc;
        gc.keep_outputs = settings_.keep_outputs;
        gc.keep_derivations = settings_.keep_derivations;
        auto_gc = std::make_unique<AutoGc>(*store_, settings_.min_free, settings_.max_free,
                                           std::chrono::seconds(settings_.min_free_check_interval), gc);
        view.set_before_build([&auto_gc] { auto_gc->check(); });
    }
    view.set_compress_build_logs(settings_.compress_build_log);
    Worker worker(io_, pool_, view, subs, builder_.get(), options, *progress_);
    running_ = &worker;
    if (signal_exit_) worker.stop(stop_reason_);
    std::exception_ptr failure;
    try {
        co_await body(worker);
    } catch (...) {
        failure = std::current_exception();
    }
    // Whatever the body left running (it threw early, say) is cancelled and waited for: its tasks and
    // the pool work they await use the worker, the store and the substituters.
    co_await worker.close();
    running_ = nullptr;
    if (failure) std::rethrow_exception(failure);
    if (signal_exit_) throw Interrupted("{}", stop_reason_);
}

void Session::open_machines() {
    machines_.clear();
    auto specs = configured_machines(settings_);
    if (specs.empty()) return;
    // Nothing is contacted before a build needs the machine (a dry run contacts none).
    SshOptions ssh;
    ssh.extra_args = ssh_options_from_env();
    ssh.store_dir = store_->store_dir();
    for (auto& spec : specs)
        machines_.push_back(make_ssh_machine(io_.get_executor(), pool_, std::move(spec), ssh));
}

void Session::run(std::function<asio::awaitable<void>(Worker&)> body, bool need_builder, bool dry_run) {
    if (need_builder || dry_run) open_machines();
    if (need_builder && !builder_) builder_ = make_session_builder();
    auto done = asio::co_spawn(io_, run_worker(std::move(body), worker_options()), asio::use_future);
    io_.run();
    io_.restart();
    console().finish();
    done.get();
    check_interrupted();
}

} // namespace ferry::cli
