// `ferry store gc` and `ferry store delete` (as nix-store --gc and --delete).
#include <iostream>
#include <set>

#include "command.hh"
#include "ferry/store/gc.hh"
#include "session.hh"

namespace ferry::cli {

namespace {

struct GcCmdOptions {
    std::string max_freed;
    bool dry_run = false;
    bool print_roots = false;
    bool print_live = false;
    bool print_dead = false;
};

/// A byte count with an optional K, M, G or T suffix (powers of 1024), as Nix's --max-freed.
uint64_t parse_bytes(const std::string& text) {
    std::string digits = text;
    uint64_t unit = 1;
    if (!digits.empty() && std::string_view("KMGT").find(digits.back()) != std::string_view::npos) {
        unit = uint64_t(1) << (10 * (1 + std::string_view("KMGT").find(digits.back())));
        digits.pop_back();
    }
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--max-freed wants a number of bytes (with K, M, G or T), not '{}'", text);
    return std::stoull(digits) * unit;
}

std::string show_bytes(uint64_t bytes) {
    return fmt::format("{:.2f} MiB", double(bytes) / (1024.0 * 1024.0));
}

int print_roots(LocalStore& store) {
    std::set<std::pair<std::string, std::string>> lines; // link, path: sorted by link, as Nix
    for (const auto& [path, links] : find_roots(store))
        for (const auto& link : links)
            lines.emplace(link, store.print(path));
    for (const auto& [link, path] : lines)
        std::cout << link << " -> " << path << "\n";
    return 0;
}

GcOptions gc_options(const Settings& settings) {
    GcOptions o;
    o.keep_outputs = settings.keep_outputs;
    o.keep_derivations = settings.keep_derivations;
    return o;
}

int run_gc(const GlobalOptions& global, const GcCmdOptions& c) {
    if (int(c.print_roots) + int(c.print_live) + int(c.print_dead) > 1)
        throw UsageError("--print-roots, --print-live and --print-dead exclude each other");
    auto settings = load_settings(global);
    auto store = open_local_store(global);
    if (c.print_roots) return print_roots(*store);
    GcOptions o = gc_options(settings);
    if (c.print_live) o.action = GcOptions::Action::return_live;
    if (c.print_dead) o.action = GcOptions::Action::return_dead;
    if (!c.max_freed.empty()) o.max_freed = parse_bytes(c.max_freed);
    o.dry_run = c.dry_run;
    auto results = collect_garbage(*store, o);
    std::string out;
    for (const auto& p : results.paths)
        out += p + "\n";
    std::cout << out;
    if (o.action != GcOptions::Action::delete_dead) return 0;
    if (c.dry_run)
        log_at(Level::info, "{} store paths would be deleted, {} would be freed", results.paths.size(),
               show_bytes(results.bytes_freed));
    else
        std::cout << fmt::format("{} store paths deleted, {} freed\n", results.paths.size(),
                                 show_bytes(results.bytes_freed));
    return 0;
}

int run_delete(const GlobalOptions& global, const std::vector<std::string>& args) {
    auto settings = load_settings(global);
    auto store = open_local_store(global);
    GcOptions o = gc_options(settings);
    o.action = GcOptions::Action::delete_specific;
    for (const auto& a : args)
        o.paths_to_delete.insert(parse_store_path_arg(*store, a));
    auto results = collect_garbage(*store, o);
    std::cout << fmt::format("{} store paths deleted, {} freed\n", results.paths.size(),
                             show_bytes(results.bytes_freed));
    return 0;
}

} // namespace

void add_gc_commands(CLI::App& store, Context& ctx) {
    auto o = std::make_shared<GcCmdOptions>();
    auto* gc = store.add_subcommand("gc", "Delete the store paths that no root reaches (as nix-store --gc)");
    gc->add_option("--max-freed", o->max_freed, "Stop after freeing more than BYTES (K, M, G, T suffixes)");
    gc->add_flag("--dry-run", o->dry_run, "Print the paths that would be deleted; delete nothing");
    gc->add_flag("--print-roots", o->print_roots, "Print the roots: 'LINK -> PATH'");
    gc->add_flag("--print-live", o->print_live, "Print the paths that are alive");
    gc->add_flag("--print-dead", o->print_dead, "Print the paths that are garbage");
    gc->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_gc(ctx.global, *o); }; });

    auto paths = std::make_shared<std::vector<std::string>>();
    auto* del = store.add_subcommand(
        "delete", "Delete store paths that nothing alive refers to (as nix-store --delete)");
    del->add_option("paths", *paths, "Store paths to delete")->required();
    del->callback([&ctx, paths] { ctx.action = [&ctx, paths] { return run_delete(ctx.global, *paths); }; });
}

} // namespace ferry::cli
