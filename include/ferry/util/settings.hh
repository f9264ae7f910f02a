#pragma once
/// ferry's options, with Nix's names and defaults. Values come from the defaults, then Nix's own
/// configuration in Nix's order (`/etc/nix/nix.conf` or `$NIX_CONF_DIR/nix.conf`, the user's
/// `nix/nix.conf` files of `$XDG_CONFIG_DIRS` and `$XDG_CONFIG_HOME`, the `NIX_CONFIG` variable), then
/// ferry's own `$XDG_CONFIG_HOME/ferry/ferry.conf` (the same syntax, see config_files.hh), then
/// `--option NAME VALUE` and the command line's own flags. Settings ferry does not know are skipped in
/// files. Read-only once a command starts.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// How a setting's value is written (and which command-line flags it gets).
enum class SettingKind {
    boolean, ///< true/yes/1, false/no/0
    number,  ///< a non-negative integer
    text,    ///< one string
    list,    ///< words separated by blanks; `extra-NAME` appends
};

/// A setting in a configuration file or NIX_CONFIG that ferry does not know, skipped.
struct IgnoredSetting {
    std::string name;
    std::string where; ///< "FILE:LINE"
};

/// Nix's default of `extra-platforms` on this machine: i686-linux on x86_64-linux, and the x86-64
/// micro-architecture levels the processor supports ("x86_64-v1-linux" …), as Nix built with libcpuid.
std::vector<std::string> default_extra_platforms();
/// Nix's default of `system-features`: nixos-test, benchmark, big-parallel, and kvm when /dev/kvm is
/// readable and writable.
std::vector<std::string> default_system_features();
/// Nix's default of `builders`: `@$NIX_CONF_DIR/machines` (`@/etc/nix/machines`).
std::string default_builders();

struct Settings {
    // Binary caches.
    std::vector<std::string> substituters;
    std::vector<std::string> trusted_public_keys;
    bool require_sigs = true;
    bool substitute = true;
    unsigned http_connections = 150;
    unsigned connect_timeout = 0;            ///< seconds; 0: curl's default
    unsigned stalled_download_timeout = 300; ///< seconds without progress
    unsigned download_attempts = 5;
    unsigned retry_base_delay_ms = 250;
    unsigned narinfo_cache_positive_ttl = 30 * 24 * 3600;
    unsigned narinfo_cache_negative_ttl = 3600;
    unsigned narinfo_cache_meta_ttl = 7 * 24 * 3600;

    // Building.
    /// Local build slots; 0: build nothing here (remote machines only), as in Nix. Unset (`auto`, and
    /// ferry's default): the number of cores.
    std::optional<unsigned> max_jobs;
    unsigned cores = 0; ///< NIX_BUILD_CORES; 0: all
    bool keep_going = false;
    bool fallback = false;
    bool keep_failed = false;
    std::string sandbox = "true"; ///< "true", "false" or "relaxed"
    bool sandbox_fallback = true;
    std::vector<std::string> sandbox_paths;
    unsigned max_silent_time = 0; ///< seconds; 0: none
    unsigned timeout = 0;         ///< seconds; 0: none

    /// Bytes of log a builder may write before it is killed (Nix's `max-build-log-size`); 0: no limit.
    unsigned max_build_log_size = 0;
    /// Build logs are bzip2-compressed (`<log>.bz2`), as Nix's `compress-build-log`.
    bool compress_build_log = true;

    bool impersonate_linux_26 = false;
    std::string system = "x86_64-linux";
    /// Other platforms this machine builds for (derivations' `system`).
    std::vector<std::string> extra_platforms = default_extra_platforms();
    /// What derivations may require through `requiredSystemFeatures`.
    std::vector<std::string> system_features = default_system_features();
    /// As root, builds run under unprivileged host ids: a user-namespace range of otherwise unused ids
    /// (`auto-allocate-uids`, `start-id`, `id-count`), or a free member of `build-users-group`.
    bool auto_allocate_uids = true;
    std::string build_users_group = "nixbld";
    unsigned start_id = 872415232; ///< 0x34000000, Nix's
    unsigned id_count = 8388608;   ///< 128 slots of 65536 ids
    /// Remote machines, in Nix's machines syntax (remote/machine_file.hh); `@FILE` reads FILE.
    std::string builders = default_builders();
    /// Remote machines fetch the inputs they lack from their own substituters first.
    bool builders_use_substitutes = false;

    // Garbage collection (Nix's names and defaults).
    bool keep_outputs = false;            ///< live derivations keep their outputs
    bool keep_derivations = true;         ///< live paths keep their derivers
    uint64_t min_free = 0;                ///< bytes; below this during builds, collect (0: never)
    uint64_t max_free = UINT64_MAX;       ///< an automatic collection stops once this much is free
    unsigned min_free_check_interval = 5; ///< seconds between checks of the free space

    /// Sets one option by its Nix name (or one of Nix's old aliases: `binary-caches`, `build-max-jobs`,
    /// …); `extra-NAME` appends to the list setting NAME. `origin` says where the value comes from (for
    /// show-config). Throws UsageError for an unknown name or a bad value.
    void set(std::string_view name, std::string_view value, std::string_view origin = "command line");
    /// Whether set() takes `name`.
    static bool known(std::string_view name);
    /// The kind of the setting `name` (a name, an alias or `extra-NAME`). Throws UsageError for an
    /// unknown name.
    static SettingKind kind(std::string_view name);
    /// The current value of an option, as text. Throws UsageError for an unknown name.
    std::string get(std::string_view name) const;
    /// Where the value of `name` comes from: "default", "FILE:LINE", "NIX_CONFIG:LINE", "command line"
    /// …; after `extra-` appends, every contribution, comma-separated.
    std::string origin(std::string_view name) const;
    /// Every option name, sorted.
    static std::vector<std::string> names();

    /// Applies a text in nix.conf's syntax; `source` is its file (for includes and messages) or a name
    /// such as "NIX_CONFIG". Unknown settings are skipped and listed in `ignored`. Throws ConfigError
    /// ("FILE:LINE: …") for a bad line, a missing include or a bad value of a known setting.
    void apply_config(std::string_view text, std::string_view source);
    /// Applies the file at `path` when it can be read (else nothing); returns whether it was read.
    bool apply_config_file(const std::filesystem::path& path);
    /// Applies Nix's configuration files in Nix's order (nix_config_files()), then `$NIX_CONFIG`, then
    /// ferry.conf (default_config_file()).
    void load_default_config();
    /// The effective number of local build slots: max_jobs, or the number of cores when unset (0 stays 0).
    unsigned effective_max_jobs() const;

    /// What the configuration read so far held but ferry does not know, in order.
    std::vector<IgnoredSetting> ignored;
    /// The configuration files read so far, included ones too, in order.
    std::vector<std::filesystem::path> files_read;

private:
    /// Applies one "name = value" line of a configuration (skipping unknown names).
    std::function<void(std::string_view, std::string_view, const std::string&)> line_sink();

    /// Origins of the settings that are not at their default.
    std::map<std::string, std::string, std::less<>> origins_;
};

/// `$XDG_CONFIG_HOME/ferry/ferry.conf`.
std::filesystem::path default_config_file();
/// `$XDG_CONFIG_HOME` (or ~/.config), `$XDG_DATA_HOME` (or ~/.local/share), `$XDG_CACHE_HOME` (or ~/.cache).
std::filesystem::path xdg_config_home();
std::filesystem::path xdg_data_home();
std::filesystem::path xdg_cache_home();

} // namespace ferry
