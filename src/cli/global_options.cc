// The options every command takes, where Nix users type them: before or after the subcommand.
#include <cstdio>
#include <map>

#include "json_log.hh"
#include "progress_line.hh"

#include "command.hh"
#include "ferry/util/settings.hh"

namespace ferry::cli {

namespace {

constexpr const char* kSettingsGroup = "Settings (as in nix.conf; `ferry show-config` prints them)";

/// Nix's short names of setting flags.
const std::map<std::string, std::string>& short_names() {
    static const std::map<std::string, std::string> names = {
        {"max-jobs", "-j"}, {"keep-going", "-k"}, {"keep-failed", "-K"}};
    return names;
}

/// A flag without a value that sets `name` to `value`.
void add_setting_switch(CLI::App& app, GlobalOptions& global, const std::string& flag,
                        const std::string& name, const std::string& value, const std::string& description) {
    auto first = flag.substr(flag.rfind(',') + 1);
    app.add_flag_callback(
           flag,
           [&global, name, value, first] {
               global.options.push_back({name, value, first});
           },
           description)
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->group(kSettingsGroup);
}

/// `--NAME VALUE`.
void add_setting_option(CLI::App& app, GlobalOptions& global, const std::string& flag,
                        const std::string& name, const std::string& description) {
    auto first = flag.substr(flag.rfind(',') + 1);
    app.add_option_function<std::string>(
           flag,
           [&global, name, first](const std::string& v) {
               global.options.push_back({name, v, first});
           },
           description)
        ->type_name("VALUE")
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->group(kSettingsGroup);
}

/// The flags of one setting, as Nix 2.8's Config::convertToArgs makes them.
void add_setting_flags(CLI::App& app, GlobalOptions& global, const std::string& name) {
    std::string flag = "--" + name;
    if (app.get_option_no_throw(flag)) return; // a global option of ferry's own has the name
    if (auto s = short_names().find(name); s != short_names().end()) flag = s->second + "," + flag;
    if (name == "sandbox") {
        add_setting_switch(app, global, flag, name, "true", "Enable sandboxing");
        add_setting_switch(app, global, "--no-sandbox", name, "false", "Disable sandboxing");
        add_setting_switch(app, global, "--relaxed-sandbox", name, "relaxed",
                           "Enable sandboxing, but allow builds to disable it");
        return;
    }
    switch (Settings::kind(name)) {
    case SettingKind::boolean:
        add_setting_switch(app, global, flag, name, "true", fmt::format("Enable the `{}` setting", name));
        add_setting_switch(app, global, "--no-" + name, name, "false",
                           fmt::format("Disable the `{}` setting", name));
        break;
    case SettingKind::list:
        add_setting_option(app, global, flag, name, fmt::format("Set the `{}` setting", name));
        add_setting_option(app, global, "--extra-" + name, "extra-" + name,
                           fmt::format("Append to the `{}` setting", name));
        break;
    default:
        add_setting_option(app, global, flag, name, fmt::format("Set the `{}` setting", name));
    }
}

void add_verbosity_flags(CLI::App& app, GlobalOptions& global) {
    auto& v = global.verbosity;
    app.add_flag_callback(
           "-v,--verbose", [&v] { v = Verbosity(std::min(int(v) + 1, int(Verbosity::vomit))); },
           "Log more (repeatable: -vvv)")
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag_callback(
           "--quiet", [&v] { v = Verbosity(std::max(int(v) - 1, int(Verbosity::error))); },
           "Log less (repeatable)")
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag_callback(
           "--debug", [&v] { v = Verbosity::debug; }, "Log at the debug level")
        ->trigger_on_parse();
}

} // namespace

void add_global_options(CLI::App& app, GlobalOptions& global) {
    // Subcommands hand what they do not know to the app: `ferry realise X --option sandbox false`.
    app.fallthrough();
    app.set_version_flag("--version", "ferry " FERRY_VERSION);
    app.add_option("--store", global.store_root, "Physical root of the local store")->envname("FERRY_STORE");
    app.add_option("--store-dir", global.store_dir, "Logical store directory")->capture_default_str();
    app.add_option_function<std::vector<std::string>>(
           "--option",
           [&global](const std::vector<std::string>& v) {
               for (size_t i = 0; i + 1 < v.size(); i += 2)
                   global.options.push_back({v[i], v[i + 1], "--option"});
           },
           "Set a setting: --option NAME VALUE")
        ->type_size(2)
        ->type_name("NAME VALUE")
        ->allow_extra_args(false)
        ->trigger_on_parse()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    add_verbosity_flags(app, global);
    app.add_option("--log-format", global.log_format, "How to show the log: bar, bar-with-logs, raw, internal-json")
        ->check(CLI::IsMember({"bar", "bar-with-logs", "raw", "internal-json"}));
    for (const auto& name : Settings::names())
        add_setting_flags(app, global, name);
}

void apply_verbosity(Verbosity verbosity) { console().set_verbosity(verbosity); }

void apply_log_format(const GlobalOptions& global) {
    if (global.log_format == "bar-with-logs") console().set_print_build_logs(true);
    if (global.log_format != "internal-json") return;
    console().set_enabled(false);
    static JsonLogSink json;
    static EventBus::Subscription subscription = events().subscribe(json);
    json.set_verbosity(global.verbosity);
}

} // namespace ferry::cli
