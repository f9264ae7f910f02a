#include <malloc.h>

#include <cstdio>
#include <iostream>

#include "command.hh"
#include "ferry/util/error.hh"

namespace {

int run(int argc, char** argv) {
    using namespace ferry::cli;
    CLI::App app{"ferry: a Nix-compatible build scheduler"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show the help of every command");
    Context ctx;
    app.add_option("--store", ctx.global.store_root, "Physical root of the local store")->envname("FERRY_STORE");
    app.add_option("--store-dir", ctx.global.store_dir, "Logical store directory")->capture_default_str();
    app.add_option_function<std::vector<std::string>>(
           "--option",
           [&](const std::vector<std::string>& v) {
               for (size_t i = 0; i + 1 < v.size(); i += 2) ctx.global.options.emplace_back(v[i], v[i + 1]);
           },
           "Set an option: --option NAME VALUE")
        ->type_size(2)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("-v,--verbose", ctx.global.verbose, "Log more");

    register_hash_commands(app, ctx);
    register_store_commands(app, ctx);
    register_derivation_commands(app, ctx);
    register_path_info_command(app, ctx);
    register_build_commands(app, ctx);
    register_copy_command(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "ferry: " << e.what() << " (see --help)\n";
        return 2;
    }
    if (!ctx.action) return 2;
    return ctx.action();
}

} // namespace

int main(int argc, char** argv) {
    // One malloc arena for all threads: the loop thread makes nearly every allocation, and the pool
    // threads' own arenas kept ~100-200 MiB of freed memory resident in a 100,000-path realise
    // (580-680 -> 470 MiB) at no measurable cost in speed (bench/README.md, closure).
    ::mallopt(M_ARENA_MAX, 1);
    try {
        return run(argc, argv);
    } catch (const ferry::UsageError& e) {
        std::cerr << "ferry: " << e.what() << "\n";
        return 2;
    } catch (const ferry::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
