#include "ferry/sched/build_env.hh"

#include <set>

#include "ferry/util/hash.hh"
#include "ferry/util/strings.hh"

namespace ferry {

namespace {

std::set<std::string> words(std::string_view s) {
    auto list = split_words(s);
    return {list.begin(), list.end()};
}

} // namespace

BuildEnvironment make_build_environment(const Derivation& drv, const BuildEnvOptions& options) {
    BuildEnvironment out;
    auto& env = out.vars;
    env["PATH"] = "/path-not-set";
    env["HOME"] = "/homeless-shelter";
    env["NIX_STORE"] = options.store_dir;
    env["NIX_BUILD_CORES"] = std::to_string(options.cores);

    auto pass_as_file =
        drv.env.count("passAsFile") ? words(drv.env.at("passAsFile")) : std::set<std::string>{};
    for (const auto& [name, value] : drv.env) {
        if (!pass_as_file.count(name)) {
            env[name] = value;
            continue;
        }
        auto file = ".attr-" + hash_string(HashAlgo::sha256, name).to_string(HashFormat::nix32, false);
        out.files[file] = value;
        env[name + "Path"] = options.build_top + "/" + file;
    }

    for (const char* var : {"NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"})
        env[var] = options.build_top;

    if (drv.is_fixed_output()) {
        env["NIX_OUTPUT_CHECKED"] = "1";
        if (auto it = drv.env.find("impureEnvVars"); it != drv.env.end())
            for (const auto& var : words(it->second)) {
                auto v = options.impure_env.find(var);
                env[var] = v == options.impure_env.end() ? "" : v->second;
            }
    }
    env["NIX_LOG_FD"] = "2";
    env["TERM"] = "xterm-256color";
    return out;
}

} // namespace ferry
