// `ferry path-info`: what the store knows about paths, printed like `nix path-info` of Nix 2.8.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

// The object `nix path-info --json` prints, with its keys in Nix's order.
nlohmann::ordered_json to_json(LocalStore& store, const ValidPathInfo& info, bool with_closure_size) {
    nlohmann::ordered_json j;
    j["path"] = store.print(info.path);
    j["narHash"] = info.nar_hash.to_string(HashFormat::sri);
    j["narSize"] = info.nar_size;
    auto refs = nlohmann::ordered_json::array();
    for (const auto& r : info.references)
        refs.push_back(store.print(r));
    j["references"] = std::move(refs);
    if (info.ca) j["ca"] = *info.ca;
    if (with_closure_size) j["closureSize"] = closure_size(store, info.path);
    if (info.deriver) j["deriver"] = store.print(*info.deriver);
    if (info.registration_time) j["registrationTime"] = info.registration_time;
    if (info.ultimate) j["ultimate"] = true;
    if (!info.signatures.empty()) j["signatures"] = info.signatures;
    return j;
}

void print_plain(LocalStore& store, const StorePathSet& paths, const PathInfoOptions& o) {
    size_t width = 0;
    for (const auto& p : paths)
        width = std::max(width, store.print(p).size());
    for (const auto& p : paths) {
        auto info = store.require_path_info(p);
        std::string printed = store.print(p);
        std::cout << printed;
        if (o.size || o.closure_size || o.sigs) std::cout << std::string(width - printed.size(), ' ');
        if (o.size) std::cout << fmt::format("\t{:11}", info.nar_size);
        if (o.closure_size) std::cout << fmt::format("\t{:11}", closure_size(store, p));
        if (o.sigs) {
            std::cout << "\t";
            for (const auto& s : info.signatures)
                std::cout << s << " ";
        }
        std::cout << "\n";
    }
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
    if (!o.json) {
        print_plain(*store, paths, o);
        return 0;
    }
    auto out = nlohmann::ordered_json::array();
    for (const auto& p : paths)
        out.push_back(to_json(*store, store->require_path_info(p), o.closure_size));
    // Like Nix 2.8: compact, no trailing newline.
    std::cout << out.dump() << std::flush;
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
