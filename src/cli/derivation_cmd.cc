// `ferry derivation show|add`: like `nix show-derivation` and `nix derivation add`.
#include <iostream>

#include "command.hh"
#include "ferry/store/derivation_json.hh"
#include "ferry/store/derivation_store.hh"
#include "ferry/util/file.hh"

namespace ferry::cli {

namespace {

struct ShowOptions {
    std::vector<std::string> args;
    bool recursive = false;
};

/// A derivation named on the command line: a `.drv` in the store, or a derivation file anywhere.
std::pair<StorePath, Derivation> resolve(LocalStore& store, const std::string& arg) {
    if (store.store_dir().is_in_store(arg) || !std::filesystem::exists(arg)) {
        auto path = parse_store_path_arg(store, arg);
        if (!path.is_derivation()) throw UsageError("'{}' is not a derivation", arg);
        return {path, read_derivation(store, path)};
    }
    auto drv = parse_derivation_file(store.store_dir(), read_file(arg), arg);
    auto hasher = store_derivation_hasher(store);
    hasher.fill_outputs(drv);
    return {derivation_store_path(store.store_dir(), drv), drv};
}

int show(const GlobalOptions& global, const ShowOptions& o) {
    auto store = open_local_store(global);
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    std::map<StorePath, Derivation> all;
    std::vector<StorePath> todo;
    for (const auto& arg : o.args) {
        auto [path, drv] = resolve(*store, arg);
        todo.push_back(path);
        all.emplace(path, std::move(drv));
    }
    while (o.recursive && !todo.empty()) {
        auto path = todo.back();
        todo.pop_back();
        for (const auto& [input, _] : all.at(path).input_drvs)
            if (!all.count(input)) {
                all.emplace(input, read_derivation(*store, input));
                todo.push_back(input);
            }
    }
    for (const auto& [path, drv] : all)
        out[store->print(path)] = derivation_to_json(store->store_dir(), drv);
    std::cout << out.dump(2) << "\n";
    return 0;
}

int add(const GlobalOptions& global, const std::vector<std::string>& files) {
    auto store = open_local_store(global);
    std::vector<Derivation> drvs;
    for (const auto& f : files)
        drvs.push_back(parse_derivation_file(store->store_dir(), read_file(f), f));
    for (const auto& p : add_derivations(*store, std::move(drvs)))
        std::cout << store->print(p) << "\n";
    return 0;
}

} // namespace

void register_derivation_commands(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("derivation", "Show and add store derivations");
    cmd->require_subcommand(1);

    auto show_opts = std::make_shared<ShowOptions>();
    auto* show_cmd = cmd->add_subcommand("show", "Print derivations as JSON (like `nix show-derivation`)");
    show_cmd->add_flag("-r,--recursive", show_opts->recursive, "Include every input derivation, recursively");
    show_cmd->add_option("drvs", show_opts->args, ".drv store paths or derivation files")->required();
    show_cmd->callback(
        [&ctx, show_opts] { ctx.action = [&ctx, show_opts] { return show(ctx.global, *show_opts); }; });

    auto files = std::make_shared<std::vector<std::string>>();
    auto* add_cmd =
        cmd->add_subcommand("add", "Add derivations (ATerm or JSON files) to the store; print their paths");
    add_cmd->add_option("files", *files, "Derivation files")->required()->check(CLI::ExistingFile);
    add_cmd->callback([&ctx, files] { ctx.action = [&ctx, files] { return add(ctx.global, *files); }; });
}

} // namespace ferry::cli
