#pragma once
/// The command line's shared parts: global options and the registry of subcommands. Each command group
/// lives in its own file and adds its subcommands through a register_* function.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "ferry/store/local_store.hh"
#include "ferry/util/events.hh"

namespace ferry::cli {

/// Nix's verbosity levels: `-v` raises the level by one, `--quiet` lowers it, `--debug` sets debug.
using Verbosity = ferry::Level;

/// A setting given on the command line: `--option NAME VALUE`, or a setting's own flag (`--max-jobs 4`,
/// `--no-sandbox`, `--extra-substituters URL`).
struct CommandLineSetting {
    std::string name;
    std::string value;
    std::string flag = "--option"; ///< as given, for show-config's origins
};

/// Options that every command understands, before or after the subcommand's name.
struct GlobalOptions {
    /// Physical root of the local store (--store); empty means the default under $XDG_DATA_HOME.
    std::string store_root;
    /// Logical store directory (--store-dir).
    std::string store_dir = "/nix/store";
    /// Settings given on the command line, in their order.
    std::vector<CommandLineSetting> options;
    Verbosity verbosity = Verbosity::info;
    /// --log-format: "bar" (the default), "bar-with-logs", "raw" or "internal-json".
    std::string log_format = "bar";
};

/// What a parsed subcommand runs; returns the exit code.
using Action = std::function<int()>;

/// A subcommand registers its callback by assigning `action`.
struct Context {
    GlobalOptions global;
    Action action;
};

/// Adds the global options to `app` and lets every subcommand pass them through to it (fallthrough):
/// --store, --store-dir, --option, -v/--verbose, --quiet, --debug, --version, and a flag for each
/// setting as Nix's commands have them (`--NAME VALUE`, `--extra-NAME VALUE` for lists, `--NAME` and
/// `--no-NAME` for booleans, `-j`, `-k`, `-K`).
void add_global_options(CLI::App& app, GlobalOptions& global);
/// Sets the console's verbosity filter (what the sinks of the event stream show).
void apply_verbosity(Verbosity verbosity);
/// Chooses the sink of the event stream on stderr (--log-format): the console, or Nix's internal-json.
void apply_log_format(const GlobalOptions& global);

/// Opens the local store that the global options name (--store, --store-dir). Every command that needs
/// the store goes through here.
std::unique_ptr<LocalStore> open_local_store(const GlobalOptions& global);

/// The store path that a command-line argument names: a store path or a path inside one
/// ("/nix/store/…-x/bin/sh"), given logically or as its physical location under the store's root.
/// Throws UsageError naming the argument otherwise.
StorePath parse_store_path_arg(const LocalStore& store, const std::string& arg);

void register_hash_commands(CLI::App& app, Context& ctx);
void register_store_commands(CLI::App& app, Context& ctx);
/// `store gc`, `store delete` (gc_cmd.cc) and `store verify`, `store repair` (verify_cmd.cc), added to
/// the `store` command.
void add_gc_commands(CLI::App& store, Context& ctx);
void add_verify_commands(CLI::App& store, Context& ctx);
void register_derivation_commands(CLI::App& app, Context& ctx);
void register_path_info_command(CLI::App& app, Context& ctx);
void register_build_commands(CLI::App& app, Context& ctx);
void register_copy_command(CLI::App& app, Context& ctx);
void register_config_command(CLI::App& app, Context& ctx);
void register_serve_command(CLI::App& app, Context& ctx);

} // namespace ferry::cli
