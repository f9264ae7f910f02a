#pragma once
// Everything a realising command needs: settings, the store, the event loop and its thread pool, the
// progress line, the builder, the substituters, and SIGINT/SIGTERM handling.

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include "command.hh"
#include "ferry/sched/builder.hh"
#include "ferry/sched/substituter.hh"
#include "ferry/sched/worker.hh"
#include "ferry/util/settings.hh"
#include "progress_line.hh"

namespace ferry::cli {

/// Settings: the defaults, then Nix's configuration files, NIX_CONFIG and ferry.conf
/// (Settings::load_default_config), then the command line's settings in their order (an unknown one
/// is a warning). Says which files were read at -v, which settings they held that ferry does not know
/// at --debug (-vvv).
Settings load_settings(const GlobalOptions& global);

class Session {
public:
    /// `print_build_logs`: -L.
    Session(const GlobalOptions& global, Settings settings, bool print_build_logs = false);
    ~Session();

    LocalStore& store() { return *store_; }
    Settings& settings() { return settings_; }
    boost::asio::io_context& io() { return io_; }
    /// The console that shows the events (progress line or plain lines).
    ProgressLine& progress() { return console(); }

    /// Runs `body(worker)` on the event loop with a worker over the configured substituters and builder.
    /// The substituters are opened first (open_substituters) and closed when the body is done.
    /// SIGINT/SIGTERM stop the worker, which waits for every task (builders killed, downloads and
    /// staging removed); then Interrupted rises and signal_exit_code() says 130 or 143. A signal that
    /// came before run() (from the Session's construction on) or while the body finished counts too.
    /// `dry_run`: the body only plans (the machines of `builders` are named, not contacted).
    void run(std::function<boost::asio::awaitable<void>(Worker&)> body, bool need_builder,
             bool dry_run = false);
    /// The substituters the worker uses, sorted by priority; only during run().
    const std::vector<std::unique_ptr<Substituter>>& substituters() const { return substituters_; }
    /// 130 after SIGINT, 143 after SIGTERM, 0 otherwise.
    int signal_exit_code() const { return signal_exit_; }
    /// Throws Interrupted when SIGINT or SIGTERM has come (and not yet been reported by run()).
    void check_interrupted();
    /// A command's exit code once its work is done: 0, or 130/143 (with the error line) when a signal
    /// came meanwhile. Signals that come after this are ignored (the Session blocks them when it goes).
    int exit_code();

private:
    /// Opens the configured substituters (dropping those that fail, with a warning).
    boost::asio::awaitable<void> open_substituters();
    boost::asio::awaitable<void> run_worker(std::function<boost::asio::awaitable<void>(Worker&)> body,
                                            WorkerOptions options);
    WorkerOptions worker_options() const;
    /// The remote machines of `builders` for a run (see run()).
    void open_machines();
    /// Waits for the next SIGINT/SIGTERM: records it and stops the running worker, if any.
    void watch_signals();
    /// The builder `sandbox` and `sandbox-fallback` ask for.
    std::unique_ptr<Builder> make_session_builder();

    Settings settings_;
    std::unique_ptr<LocalStore> store_;
    boost::asio::io_context io_;
    boost::asio::thread_pool pool_;
    /// What the worker reports through; its events reach the console.
    std::unique_ptr<Progress> progress_;
    std::vector<std::unique_ptr<Substituter>> substituters_;
    std::unique_ptr<Builder> builder_;
    std::vector<std::unique_ptr<RemoteMachine>> machines_;
    /// SIGINT and SIGTERM are caught from the Session's construction to its destruction: one that comes
    /// while no one waits is queued and seen by the next wait.
    boost::asio::signal_set signals_;
    Worker* running_ = nullptr;
    std::string stop_reason_;
    int signal_exit_ = 0;
};

} // namespace ferry::cli
