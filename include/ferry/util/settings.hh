#pragma once
/// ferry's options, with Nix's names and defaults. Values come from defaults, then
/// `$XDG_CONFIG_HOME/ferry/ferry.conf` (lines "name = value", '#' comments, like nix.conf), then
/// `--option NAME VALUE` and the command line's own flags. Read-only once a command starts.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

struct Settings {
    // Binary caches.
    std::vector<std::string> substituters;
    std::vector<std::string> trusted_public_keys;
    bool require_sigs = true;
    bool substitute = true;
    unsigned http_connections = 150;
    unsigned connect_timeout = 0;           ///< seconds; 0: curl's default
    unsigned stalled_download_timeout = 300; ///< seconds without progress
    unsigned download_attempts = 5;
    unsigned retry_base_delay_ms = 250;
    unsigned narinfo_cache_positive_ttl = 30 * 24 * 3600;
    unsigned narinfo_cache_negative_ttl = 3600;
    unsigned narinfo_cache_meta_ttl = 7 * 24 * 3600;

    // Building.
    unsigned max_jobs = 0; ///< 0: the number of cores
    unsigned cores = 0;    ///< NIX_BUILD_CORES; 0: all
    bool keep_going = false;
    bool fallback = false;
    bool keep_failed = false;
    std::string sandbox = "true"; ///< "true", "false" or "relaxed"
    bool sandbox_fallback = true;
    std::vector<std::string> sandbox_paths;
    unsigned max_silent_time = 0; ///< seconds; 0: none
    unsigned timeout = 0;         ///< seconds; 0: none
    bool impersonate_linux_26 = false;
    std::string system = "x86_64-linux";
    /// As root, builds run under unprivileged host ids: a user-namespace range of otherwise unused ids
    /// (`auto-allocate-uids`, `start-id`, `id-count`), or a free member of `build-users-group`.
    bool auto_allocate_uids = true;
    std::string build_users_group = "nixbld";
    unsigned start_id = 872415232; ///< 0x34000000, Nix's
    unsigned id_count = 8388608;   ///< 128 slots of 65536 ids

    /// Sets one option by its Nix name. Throws UsageError for an unknown name or a bad value.
    void set(std::string_view name, std::string_view value);
    /// The current value of an option, as text. Throws UsageError for an unknown name.
    std::string get(std::string_view name) const;
    /// Every option name, sorted.
    static std::vector<std::string> names();

    /// Applies a ferry.conf text ("name = value" lines). `where` names it in errors.
    void apply_config(std::string_view text, std::string_view where);
    /// Applies `$XDG_CONFIG_HOME/ferry/ferry.conf` (or `~/.config/…`) when it exists.
    void load_default_config();
    /// The effective number of parallel builds.
    unsigned effective_max_jobs() const;
};

/// `$XDG_CONFIG_HOME/ferry/ferry.conf`.
std::filesystem::path default_config_file();
/// `$XDG_DATA_HOME` (or ~/.local/share), `$XDG_CACHE_HOME` (or ~/.cache).
std::filesystem::path xdg_data_home();
std::filesystem::path xdg_cache_home();

} // namespace ferry
