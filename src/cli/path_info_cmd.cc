// `ferry path-info`: what the store knows about paths, printed like `nix path-info` of Nix 2.8.
#include "ferry/cache/binary_cache.hh"
#include "path_info.hh"

namespace ferry::cli {

namespace {

uint64_t closure_size(LocalStore& store, const StorePath& path) {
    uint64_t total = 0;
    for (const auto& p : store.compute_closure({path}))
        total += store.require_path_info(p).nar_size;
    return total;
}

int run_path_info(const Context& ctx, const PathInfoOptions& o) {
    GlobalOptions global = ctx.global;
    if (!o.store.empty()) global.store_root = o.store;
    if (!o.from.empty()) return run_cache_path_info(global, o.from, o);
    if (is_binary_cache_url(global.store_root)) return run_cache_path_info(global, global.store_root, o);
    auto store = open_local_store(global);
    StorePathSet paths;
    for (const auto& arg : o.paths) {
        StorePath p = parse_store_path_arg(*store, arg);
        if (!store->is_valid_path(p)) throw InvalidPath("path '{}' is not valid", store->print(p));
        paths.insert(std::move(p));
    }
    if (o.recursive) paths = store->compute_closure(paths);
    std::vector<PathInfoRow> rows;
    for (const auto& p : paths) {
        PathInfoRow row{store->require_path_info(p)};
        if (o.closure_size) row.closure_size = closure_size(*store, p);
        rows.push_back(std::move(row));
    }
    print_path_infos(store->store_dir(), rows, o);
    return 0;
}

} // namespace

void register_path_info_command(CLI::App& app, Context& ctx) {
    auto o = std::make_shared<PathInfoOptions>();
    auto* cmd =
        app.add_subcommand("path-info", "Show information about valid store paths (like `nix path-info`)");
    cmd->add_option("paths", o->paths, "Store paths (or paths inside them)")->required();
    cmd->add_flag("-r,--recursive", o->recursive, "Show the closure of the paths");
    cmd->add_flag("--json", o->json, "Print a JSON array like `nix path-info --json` (Nix 2.8)");
    cmd->add_flag("-s,--size", o->size, "Print the NAR size of each path");
    cmd->add_flag("-S,--closure-size", o->closure_size,
                  "Print the sum of the NAR sizes of each path's closure");
    cmd->add_flag("--sigs", o->sigs, "Print the signatures of each path");
    cmd->add_option("--from", o->from,
                    "Read the narinfos of a binary cache (http://, https://, file://) instead of the local "
                    "store; `--store URL` does the same");
    cmd->add_option("--store", o->store, "The local store's root, or a binary cache URL (as --from)");
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_path_info(ctx, *o); }; });
}

} // namespace ferry::cli
