#include "ferry/util/settings.hh"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "ferry/util/config_files.hh"
#include "ferry/util/error.hh"
#include "ferry/util/strings.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

bool parse_bool(std::string_view name, std::string_view v) {
    if (v == "true" || v == "1" || v == "yes") return true;
    if (v == "false" || v == "0" || v == "no") return false;
    throw UsageError("option '{}' must be true or false, not '{}'", name, v);
}

unsigned parse_unsigned(std::string_view name, std::string_view v) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty())
        throw UsageError("option '{}' must be a non-negative integer, not '{}'", name, v);
    return n;
}

uint64_t parse_uint64(std::string_view name, std::string_view v) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty())
        throw UsageError("option '{}' must be a non-negative integer, not '{}'", name, v);
    return n;
}

std::vector<std::string> parse_list(std::string_view v) {
    auto words = split_words(v);
    return {words.begin(), words.end()};
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : " ") + s;
    return out;
}

/// Binds an option name to a field of Settings, with parsing and printing.
struct Binding {
    std::function<void(Settings&, std::string_view name, std::string_view value)> set;
    std::function<std::string(const Settings&)> get;
    SettingKind kind = SettingKind::text;
    /// `extra-NAME`: appends to a list; empty for the other kinds.
    std::function<void(Settings&, std::string_view value)> append;
};

template <typename T> Binding bind_field(T Settings::*field) {
    Binding b;
    b.set = [field](Settings& s, std::string_view name, std::string_view v) {
        if constexpr (std::is_same_v<T, bool>)
            s.*field = parse_bool(name, v);
        else if constexpr (std::is_same_v<T, unsigned>)
            s.*field = parse_unsigned(name, v);
        else if constexpr (std::is_same_v<T, uint64_t>)
            s.*field = parse_uint64(name, v);
        else if constexpr (std::is_same_v<T, std::string>)
            s.*field = std::string(v);
        else
            s.*field = parse_list(v);
    };
    b.get = [field](const Settings& s) -> std::string {
        if constexpr (std::is_same_v<T, bool>)
            return s.*field ? "true" : "false";
        else if constexpr (std::is_same_v<T, unsigned> || std::is_same_v<T, uint64_t>)
            return std::to_string(s.*field);
        else if constexpr (std::is_same_v<T, std::string>)
            return s.*field;
        else
            return join(s.*field);
    };
    if constexpr (std::is_same_v<T, bool>)
        b.kind = SettingKind::boolean;
    else if constexpr (std::is_same_v<T, unsigned> || std::is_same_v<T, uint64_t>)
        b.kind = SettingKind::number;
    else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        b.kind = SettingKind::list;
        b.append = [field](Settings& s, std::string_view v) {
            auto more = parse_list(v);
            (s.*field).insert((s.*field).end(), more.begin(), more.end());
        };
    }
    return b;
}

/// `max-jobs`: a number, or `auto` (unset: the number of cores).
Binding bind_max_jobs() {
    Binding b;
    b.set = [](Settings& s, std::string_view name, std::string_view v) {
        if (v == "auto")
            s.max_jobs.reset();
        else
            s.max_jobs = parse_unsigned(name, v);
    };
    b.get = [](const Settings& s) { return s.max_jobs ? std::to_string(*s.max_jobs) : std::string("auto"); };
    b.kind = SettingKind::number;
    return b;
}

const std::map<std::string, Binding, std::less<>>& bindings() {
    static const std::map<std::string, Binding, std::less<>> table = {
        {"substituters", bind_field(&Settings::substituters)},
        {"trusted-public-keys", bind_field(&Settings::trusted_public_keys)},
        {"require-sigs", bind_field(&Settings::require_sigs)},
        {"substitute", bind_field(&Settings::substitute)},
        {"http-connections", bind_field(&Settings::http_connections)},
        {"connect-timeout", bind_field(&Settings::connect_timeout)},
        {"stalled-download-timeout", bind_field(&Settings::stalled_download_timeout)},
        {"download-attempts", bind_field(&Settings::download_attempts)},
        {"retry-base-delay-ms", bind_field(&Settings::retry_base_delay_ms)},
        {"narinfo-cache-positive-ttl", bind_field(&Settings::narinfo_cache_positive_ttl)},
        {"narinfo-cache-negative-ttl", bind_field(&Settings::narinfo_cache_negative_ttl)},
        {"narinfo-cache-meta-ttl", bind_field(&Settings::narinfo_cache_meta_ttl)},
        {"max-jobs", bind_max_jobs()},
        {"cores", bind_field(&Settings::cores)},
        {"keep-going", bind_field(&Settings::keep_going)},
        {"fallback", bind_field(&Settings::fallback)},
        {"keep-failed", bind_field(&Settings::keep_failed)},
        {"sandbox", bind_field(&Settings::sandbox)},
        {"sandbox-fallback", bind_field(&Settings::sandbox_fallback)},
        {"sandbox-paths", bind_field(&Settings::sandbox_paths)},
        {"max-silent-time", bind_field(&Settings::max_silent_time)},
        {"timeout", bind_field(&Settings::timeout)},
        {"max-build-log-size", bind_field(&Settings::max_build_log_size)},
        {"compress-build-log", bind_field(&Settings::compress_build_log)},
        {"impersonate-linux-26", bind_field(&Settings::impersonate_linux_26)},
        {"system", bind_field(&Settings::system)},
        {"extra-platforms", bind_field(&Settings::extra_platforms)},
        {"system-features", bind_field(&Settings::system_features)},
        {"auto-allocate-uids", bind_field(&Settings::auto_allocate_uids)},
        {"build-users-group", bind_field(&Settings::build_users_group)},
        {"start-id", bind_field(&Settings::start_id)},
        {"id-count", bind_field(&Settings::id_count)},
        {"builders", bind_field(&Settings::builders)},
        {"builders-use-substitutes", bind_field(&Settings::builders_use_substitutes)},
        {"keep-outputs", bind_field(&Settings::keep_outputs)},
        {"keep-derivations", bind_field(&Settings::keep_derivations)},
        {"min-free", bind_field(&Settings::min_free)},
        {"max-free", bind_field(&Settings::max_free)},
        {"min-free-check-interval", bind_field(&Settings::min_free_check_interval)},
    };
    return table;
}

/// Nix's older names of the settings above (Nix 2.8's globals.hh and filetransfer.hh), still read.
const std::map<std::string_view, std::string_view, std::less<>>& aliases() {
    static const std::map<std::string_view, std::string_view, std::less<>> table = {
        {"binary-cache-public-keys", "trusted-public-keys"},
        {"binary-caches", "substituters"},
        {"binary-caches-parallel-connections", "http-connections"},
        {"build-chroot-dirs", "sandbox-paths"},
        {"build-cores", "cores"},
        {"build-fallback", "fallback"},
        {"build-max-jobs", "max-jobs"},
        {"build-max-silent-time", "max-silent-time"},
        {"build-sandbox-paths", "sandbox-paths"},
        {"build-timeout", "timeout"},
        {"build-max-log-size", "max-build-log-size"},
        {"build-compress-log", "compress-build-log"},
        {"build-use-chroot", "sandbox"},
        {"build-use-sandbox", "sandbox"},
        {"build-use-substitutes", "substitute"},
        {"gc-keep-derivations", "keep-derivations"},
        {"gc-keep-outputs", "keep-outputs"},
    };
    return table;
}

/// What a name given to Settings::set stands for.
struct Resolved {
    std::string_view name; ///< the setting's own name
    const Binding* binding;
    bool append; ///< `extra-NAME`
};

std::optional<Resolved> resolve(std::string_view name) {
    auto find = [](std::string_view n) -> std::optional<Resolved> {
        if (auto a = aliases().find(n); a != aliases().end()) n = a->second;
        auto it = bindings().find(n);
        if (it == bindings().end()) return std::nullopt;
        return Resolved{it->first, &it->second, false};
    };
    if (auto r = find(name)) return r;
    // As Nix: `extra-` applies to list settings only; for the others it is an unknown name.
    if (name.starts_with("extra-"))
        if (auto r = find(name.substr(6)); r && r->binding->append)
            return Resolved{r->name, r->binding, true};
    return std::nullopt;
}

Resolved require(std::string_view name) {
    auto r = resolve(name);
    if (!r) throw UsageError("unknown setting '{}'", name);
    return *r;
}

std::filesystem::path xdg_dir(const char* var, const char* fallback) {
    if (const char* v = std::getenv(var); v && *v) return v;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / fallback;
}

} // namespace

void Settings::set(std::string_view name, std::string_view value, std::string_view origin) {
    auto r = require(name);
    std::string key(r.name);
    if (r.append) {
        r.binding->append(*this, value);
        auto before = origins_.find(key);
        origins_[key] = fmt::format("{}, {}", before == origins_.end() ? "default" : before->second, origin);
        return;
    }
    if (r.name == "sandbox" && value != "true" && value != "false" && value != "relaxed")
        throw UsageError("option 'sandbox' must be true, false or relaxed, not '{}'", value);
    r.binding->set(*this, r.name, value);
    origins_[key] = std::string(origin);
}

bool Settings::known(std::string_view name) {
    return resolve(name).has_value();
}

SettingKind Settings::kind(std::string_view name) {
    return require(name).binding->kind;
}

std::string Settings::get(std::string_view name) const {
    return require(name).binding->get(*this);
}

std::string Settings::origin(std::string_view name) const {
    auto it = origins_.find(require(name).name);
    return it == origins_.end() ? "default" : it->second;
}

std::vector<std::string> Settings::names() {
    std::vector<std::string> out;
    for (const auto& [name, _] : bindings())
        out.push_back(name);
    return out;
}

std::function<void(std::string_view, std::string_view, const std::string&)> Settings::line_sink() {
    return [this](std::string_view name, std::string_view value, const std::string& where) {
        if (!known(name)) {
            ignored.push_back(IgnoredSetting{std::string(name), where});
            return;
        }
        set(name, value, where);
    };
}

void Settings::apply_config(std::string_view text, std::string_view source) {
    parse_config(text, std::string(source), line_sink(),
                 [this](const fs::path& p) { files_read.push_back(p); });
}

bool Settings::apply_config_file(const fs::path& path) {
    return parse_config_file(path, line_sink(), [this](const fs::path& p) { files_read.push_back(p); });
}

void Settings::load_default_config() {
    for (const auto& file : nix_config_files())
        apply_config_file(file);
    if (const char* text = std::getenv("NIX_CONFIG")) apply_config(text, "NIX_CONFIG");
    apply_config_file(default_config_file());
}

unsigned Settings::effective_max_jobs() const {
    if (max_jobs) return *max_jobs;
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

std::vector<std::string> default_extra_platforms() {
    std::vector<std::string> platforms;
#if defined(__x86_64__) && defined(__linux__)
    platforms.push_back("i686-linux");
    __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 15
    // clang 14 (Debian 12's, the fuzzers' compiler) knows no "x86-64-vN": the features that set the levels
    // apart.
    platforms.push_back("x86_64-v1-linux");
    bool v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt") &&
              __builtin_cpu_supports("ssse3");
    bool v3 = v2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
              __builtin_cpu_supports("fma");
    bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
              __builtin_cpu_supports("avx512vl");
    if (v2) platforms.push_back("x86_64-v2-linux");
    if (v3) platforms.push_back("x86_64-v3-linux");
    if (v4) platforms.push_back("x86_64-v4-linux");
#else
    if (__builtin_cpu_supports("x86-64")) platforms.push_back("x86_64-v1-linux");
    if (__builtin_cpu_supports("x86-64-v2")) platforms.push_back("x86_64-v2-linux");
    if (__builtin_cpu_supports("x86-64-v3")) platforms.push_back("x86_64-v3-linux");
    if (__builtin_cpu_supports("x86-64-v4")) platforms.push_back("x86_64-v4-linux");
#endif
#endif
    return platforms;
}

std::vector<std::string> default_system_features() {
    std::vector<std::string> features{"benchmark", "big-parallel", "nixos-test"};
    if (::access("/dev/kvm", R_OK | W_OK) == 0) features.insert(features.begin() + 2, "kvm");
    return features;
}

std::string default_builders() {
    const char* dir = std::getenv("NIX_CONF_DIR");
    return "@" + std::string(dir && *dir ? dir : "/etc/nix") + "/machines";
}

std::filesystem::path default_config_file() {
    return xdg_config_home() / "ferry" / "ferry.conf";
}
std::filesystem::path xdg_config_home() {
    return xdg_dir("XDG_CONFIG_HOME", ".config");
}
std::filesystem::path xdg_data_home() {
    return xdg_dir("XDG_DATA_HOME", ".local/share");
}
std::filesystem::path xdg_cache_home() {
    return xdg_dir("XDG_CACHE_HOME", ".cache");
}

} // namespace ferry
