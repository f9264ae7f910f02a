#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>

#include "command.hh"
#include "ferry/sched/worker.hh"
#include "ferry/util/error.hh"
#include "progress_line.hh"

namespace {

int run(int argc, char** argv) {
    using namespace ferry::cli;
    CLI::App app{"ferry: a Nix-compatible build scheduler"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show the help of every command");
    Context ctx;
    add_global_options(app, ctx.global);

    register_hash_commands(app, ctx);
    register_store_commands(app, ctx);
    register_derivation_commands(app, ctx);
    register_path_info_command(app, ctx);
    register_build_commands(app, ctx);
    register_copy_command(app, ctx);
    register_config_command(app, ctx);
    register_serve_command(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "ferry: " << e.what() << " (see --help)\n";
        return 2;
    }
    if (!ctx.action) return 2;
    apply_verbosity(ctx.global.verbosity);
    apply_log_format(ctx.global);
    return ctx.action();
}

} // namespace

int main(int argc, char** argv) {
    // One malloc arena for all threads: the loop thread makes nearly every allocation, and the pool
    // threads' own arenas kept ~100-200 MiB of freed memory resident in a 100,000-path realise
    // (580-680 -> 470 MiB) at no measurable cost in speed (bench/README.md, closure).
    ::mallopt(M_ARENA_MAX, 1);
    // A path's lock is held (one descriptor) from before its download until it is valid, which waits for
    // its references: a large closure holds thousands at once. The soft limit goes up to the hard one.
    if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ferry::cli::console(); // the sink of the event stream on stderr, until the process ends
    try {
        return run(argc, argv);
    } catch (const ferry::UsageError& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 2;
    } catch (const ferry::RealiseError& e) {
        // Nix's exit status: 100 a build failed, 101 timed out, 102 hash mismatch, 104 not deterministic.
        ferry::log_error("{}", e.what());
        return e.exit_status();
    } catch (const ferry::Error& e) {
        ferry::log_error("{}", e.what());
        return 1;
    } catch (const std::exception& e) {
        ferry::log_error("{}", e.what());
        return 1;
    }
}
