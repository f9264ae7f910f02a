// `ferry show-config`: the effective settings, as `nix show-config` prints them, and where each came from.
#include <iostream>

#include "command.hh"
#include "session.hh"

namespace ferry::cli {

namespace {

int run_show_config(const GlobalOptions& global, bool origins) {
    auto settings = load_settings(global);
    origins = origins || global.verbosity >= Verbosity::talkative;
    std::string out;
    for (const auto& name : Settings::names()) {
        out += fmt::format("{} = {}", name, settings.get(name));
        if (origins) out += fmt::format(" # {}", settings.origin(name));
        out += '\n';
    }
    if (origins)
        for (const auto& i : settings.ignored)
            out += fmt::format("# ignored: {} ({}): ferry does not know this setting\n", i.name, i.where);
    std::cout << out;
    return 0;
}

} // namespace

void register_config_command(CLI::App& app, Context& ctx) {
    auto origins = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("show-config", "Print the effective settings (like nix show-config)");
    cmd->add_flag("--origin", *origins,
                  "Say where each value comes from (default, FILE:LINE, NIX_CONFIG:LINE, the command line); "
                  "also with -v");
    cmd->callback(
        [&ctx, origins] { ctx.action = [&ctx, origins] { return run_show_config(ctx.global, *origins); }; });
}

} // namespace ferry::cli
