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
#include "ferry/remote/serve_server.hh"
#include "ferry/sandbox/make_builder.hh"
#include "ferry/sched/local_store_view.hh"
#include "session.hh"

namespace asio = boost::asio;

namespace ferry::cli {

namespace {

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
        auto done = asio::co_spawn(io,
                                   serve_store(io.get_executor(), pool, view, *builder, STDIN_FILENO,
                                               STDOUT_FILENO, STDERR_FILENO, options),
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
