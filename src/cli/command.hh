#pragma once
/// The command line's shared parts: global options and the registry of subcommands. Each command group
/// lives in its own file and adds its subcommands through a register_* function.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "ferry/store/local_store.hh"

namespace ferry::cli {

/// Options that every command understands.
struct GlobalOptions {
    /// Physical root of the local store (--store); empty means the default under $XDG_DATA_HOME.
    std::string store_root;
    /// Logical store directory (--store-dir).
    std::string store_dir = "/nix/store";
    /// --option NAME VALUE, in order.
    std::vector<std::pair<std::string, std::string>> options;
    bool verbose = false;
};

/// What a parsed subcommand runs; returns the exit code.
using Action = std::function<int()>;

/// A subcommand registers its callback by assigning `action`.
struct Context {
    GlobalOptions global;
    Action action;
};

/// Opens the local store that the global options name (--store, --store-dir). Every command that needs
/// the store goes through here.
std::unique_ptr<LocalStore> open_local_store(const GlobalOptions& global);

/// The store path that a command-line argument names: a store path or a path inside one
/// ("/nix/store/…-x/bin/sh"), given logically or as its physical location under the store's root.
/// Throws UsageError naming the argument otherwise.
StorePath parse_store_path_arg(const LocalStore& store, const std::string& arg);

void register_hash_commands(CLI::App& app, Context& ctx);
void register_store_commands(CLI::App& app, Context& ctx);
void register_derivation_commands(CLI::App& app, Context& ctx);
void register_path_info_command(CLI::App& app, Context& ctx);
void register_build_commands(CLI::App& app, Context& ctx);
void register_copy_command(CLI::App& app, Context& ctx);

} // namespace ferry::cli
