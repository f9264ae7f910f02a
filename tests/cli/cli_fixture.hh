#pragma once
/// What the command-line tests share: a temporary store, the ferry binary run as a process in an
/// environment that no configuration of the host reaches, and derivations with the busybox builder.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/store/store_config.hh"
#include "ferry/util/file.hh"
#include "support/ferry_process.hh"

namespace ferry::test {

/// A temporary store at tmp/root; NIX_CONF_DIR, XDG_CONFIG_HOME and XDG_CONFIG_DIRS point at tmp/env/…
/// (empty until a test writes there: env_dir()), NIX_CONFIG and NIX_USER_CONF_FILES are unset.
struct CliTest : ::testing::Test {
    CliTest();

    TempDir tmp;
    std::filesystem::path root = tmp.path() / "root";
    StoreConfig config{.store_dir = "/nix/store", .root = root};

    /// tmp/env: etc-nix/ is NIX_CONF_DIR, config/ XDG_CONFIG_HOME, xdg/ XDG_CONFIG_DIRS.
    std::filesystem::path env_dir() const { return tmp.path() / "env"; }

    /// ferry --store ROOT ARGS…
    FerryResult ferry(std::vector<std::string> args, const std::filesystem::path& in = "/dev/null");
    /// `store import` arguments for a fixture path (compat_path_infos()).
    std::vector<std::string> import_args(const nlohmann::json& e);
    /// Imports the busybox builder (the fixture's NAR) into the store.
    void import_busybox();
    /// The store holds no path's files and nothing in staging.
    void expect_empty_store();
    /// The fixture path whose name ends with `suffix`.
    nlohmann::json fixture(std::string_view suffix);
};

/// The busybox builder's store path.
extern const std::string kBusybox;

/// Writes DIR/NAME.json, a JSON derivation whose builder is busybox's `sh -c SCRIPT` (`$bb` is
/// busybox's bin directory), depending on nothing but busybox, with `extra_env` added to its
/// environment; returns the file.
std::string busybox_derivation(const std::filesystem::path& dir, const std::string& name,
                               const std::string& script,
                               const std::vector<std::pair<std::string, std::string>>& extra_env = {});

/// The same, fixed-output: its output `out` must have the flat sha256 `hash` (base16).
std::string fixed_output_derivation(const std::filesystem::path& dir, const std::string& name,
                                    const std::string& script, const std::string& hash);

/// Writes `n` JSON derivations (busybox builders that sleep `seconds`, then write their name), each
/// depending on nothing; returns the files.
std::vector<std::string> sleepy_derivations(const std::filesystem::path& dir, int n, const char* seconds);

/// The lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

} // namespace ferry::test
