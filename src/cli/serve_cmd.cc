// `ferry serve [--write]`: Nix's serve protocol on standard input and output over the local store, as
// `nix-store --serve [--write]` (remote/serve_server.hh), so that `ssh host ferry serve --write` is a
// remote builder for ferry and for Nix.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "command.hh"
#include "ferry/cache/open_substituters.hh"
#include "ferry/remote/serve_server.hh"
#include "ferry/sandbox/make_builder.hh"
#include "ferry/sched/local_store_view.hh"
#include "ferry/sched/progress.hh"
#include "ferry/sched/worker.hh"
#include "session.hh"

namespace asio = boost::asio;

namespace ferry::cli {

namespace {

/// QueryValidPaths' substitute flag: the configured substituters, opened at the first request, and a
/// worker without builder that fetches the paths (Nix's substitutePaths: failures are warnings).
class ServeSubstitution {
public:
    ServeSubstitution(const Settings& settings, asio::io_context& io, asio::thread_pool& pool,
                      LocalStoreView& view)
        : settings_(settings), io_(io), pool_(pool), view_(view) {}

    asio::awaitable<void> operator()(StorePathSet paths) {
        if (!settings_.substitute) co_return;
        auto warn = [](const std::string& message) { ferry::warn("{}", message); };
        if (!opened_) {
            opened_ = true;
            auto context =
                make_binary_cache_context(settings_, view_.store_dir(), io_.get_executor(), pool_, warn);
            substituters_ = co_await open_substituters(context, settings_.substituters, warn);
        }
        if (substituters_.empty()) co_return;
        std::vector<Substituter*> subs;
        for (auto& s : substituters_)
            subs.push_back(s.get());
        WorkerOptions options;
        options.max_queries = 2 * std::max(1u, settings_.http_connections);
        Worker worker(io_, pool_, view_, subs, nullptr, options, progress_);
        std::vector<Target> targets;
        for (const auto& p : paths)
            targets.push_back(Target{p, {}});
        try {
            co_await worker.realise(std::move(targets));
        } catch (const Error& e) {
            warn(e.what());
        }
        co_await worker.close();
    }
    /// Closes the substituters (their HTTP client keeps the loop busy otherwise).
    void close() { substituters_.clear(); }

private:
    const Settings& settings_;
    asio::io_context& io_;
    asio::thread_pool& pool_;
    LocalStoreView& view_;
    Progress progress_;
    bool opened_ = false;
    std::vector<std::unique_ptr<Substituter>> substituters_;
};

/// Serves, then closes what the substitution opened, whether serving ended well or not.
asio::awaitable<void> serve_then_close(asio::io_context& io, asio::thread_pool& pool, LocalStoreView& view,
                                       Builder& builder, ServeServerOptions options,
                                       ServeSubstitution& substitution) {
    std::exception_ptr failure;
    try {
        co_await serve_store(io.get_executor(), pool, view, builder, STDIN_FILENO, STDOUT_FILENO,
                             STDERR_FILENO, std::move(options));
    } catch (...) {
        failure = std::current_exception();
    }
    substitution.close();
    if (failure) std::rethrow_exception(failure);
}

int run_serve(const GlobalOptions& global, bool write) {
    ::signal(SIGPIPE, SIG_IGN); // a client that goes away is an error on write, not a silent death
    Settings settings = load_settings(global);
    auto store = open_local_store(global);
    BuilderContext context;
    context.diverted_store =
        store->config().real_store_dir() != std::filesystem::path(store->store_dir().dir());
    context.warn = [](std::string_view message) { ferry::warn("{}", message); };
    auto builder = make_builder(settings, context);
    asio::io_context io;
    asio::thread_pool pool(std::max(2u, std::thread::hardware_concurrency()));
    {
        LocalStoreView view(*store, pool);
        ServeServerOptions options;
        options.write = write;
        options.cores = settings.cores ? settings.cores : std::max(1u, std::thread::hardware_concurrency());
        ServeSubstitution substitution(settings, io, pool, view);
        options.substitute = [&substitution](StorePathSet paths) { return substitution(std::move(paths)); };
        auto done = asio::co_spawn(io, serve_then_close(io, pool, view, *builder, options, substitution),
                                   asio::use_future);
        io.run();
        pool.join();
        done.get();
    }
    return 0;
}

} // namespace

void register_serve_command(CLI::App& app, Context& ctx) {
    auto write = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("serve", "Serve the local store over Nix's serve protocol on standard "
                                            "input and output (as nix-store --serve), for remote builds");
    cmd->add_flag("--write", *write,
                  "Allow the client to add paths and build (as nix-store --serve --write)");
    cmd->callback([&ctx, write] { ctx.action = [&ctx, write] { return run_serve(ctx.global, *write); }; });
}

} // namespace ferry::cli
