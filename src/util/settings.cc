#include "ferry/util/settings.hh"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <thread>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "ferry/util/strings.hh"

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

std::vector<std::string> parse_list(std::string_view v) {
    auto words = split_words(v);
    return {words.begin(), words.end()};
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}

/// Binds an option name to a field of Settings, with parsing and printing.
struct Binding {
    std::function<void(Settings&, std::string_view name, std::string_view value)> set;
    std::function<std::string(const Settings&)> get;
};

template <typename T>
Binding bind_field(T Settings::*field) {
    Binding b;
    b.set = [field](Settings& s, std::string_view name, std::string_view v) {
        if constexpr (std::is_same_v<T, bool>)
            s.*field = parse_bool(name, v);
        else if constexpr (std::is_same_v<T, unsigned>)
            s.*field = parse_unsigned(name, v);
        else if constexpr (std::is_same_v<T, std::string>)
            s.*field = std::string(v);
        else
            s.*field = parse_list(v);
    };
    b.get = [field](const Settings& s) -> std::string {
        if constexpr (std::is_same_v<T, bool>)
            return s.*field ? "true" : "false";
        else if constexpr (std::is_same_v<T, unsigned>)
            return std::to_string(s.*field);
        else if constexpr (std::is_same_v<T, std::string>)
            return s.*field;
        else
            return join(s.*field);
    };
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
        {"max-jobs", bind_field(&Settings::max_jobs)},
        {"cores", bind_field(&Settings::cores)},
        {"keep-going", bind_field(&Settings::keep_going)},
        {"fallback", bind_field(&Settings::fallback)},
        {"keep-failed", bind_field(&Settings::keep_failed)},
        {"sandbox", bind_field(&Settings::sandbox)},
        {"sandbox-fallback", bind_field(&Settings::sandbox_fallback)},
        {"sandbox-paths", bind_field(&Settings::sandbox_paths)},
        {"max-silent-time", bind_field(&Settings::max_silent_time)},
        {"timeout", bind_field(&Settings::timeout)},
        {"impersonate-linux-26", bind_field(&Settings::impersonate_linux_26)},
        {"system", bind_field(&Settings::system)},
        {"auto-allocate-uids", bind_field(&Settings::auto_allocate_uids)},
        {"build-users-group", bind_field(&Settings::build_users_group)},
        {"start-id", bind_field(&Settings::start_id)},
        {"id-count", bind_field(&Settings::id_count)},
    };
    return table;
}

std::filesystem::path xdg_dir(const char* var, const char* fallback) {
    if (const char* v = std::getenv(var); v && *v) return v;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / fallback;
}

} // namespace

void Settings::set(std::string_view name, std::string_view value) {
    if (name == "max-jobs" && value == "auto") {
        max_jobs = 0;
        return;
    }
    if (name == "sandbox") {
        if (value != "true" && value != "false" && value != "relaxed")
            throw UsageError("option 'sandbox' must be true, false or relaxed, not '{}'", value);
    }
    auto it = bindings().find(name);
    if (it == bindings().end()) throw UsageError("unknown option '{}'", name);
    it->second.set(*this, name, value);
}

std::string Settings::get(std::string_view name) const {
    auto it = bindings().find(name);
    if (it == bindings().end()) throw UsageError("unknown option '{}'", name);
    return it->second.get(*this);
}

std::vector<std::string> Settings::names() {
    std::vector<std::string> out;
    for (const auto& [name, _] : bindings()) out.push_back(name);
    return out;
}

void Settings::apply_config(std::string_view text, std::string_view where) {
    size_t pos = 0, line_no = 0;
    while (pos <= text.size()) {
        auto eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        auto line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        auto start = line.find_first_not_of(" \t\r");
        if (start == std::string_view::npos) continue;
        line = line.substr(start, line.find_last_not_of(" \t\r") - start + 1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos) throw UsageError("{}:{}: expected 'name = value'", where, line_no);
        auto name = line.substr(0, eq), value = line.substr(eq + 1);
        name = name.substr(0, name.find_last_not_of(" \t") + 1);
        value = value.substr(std::min(value.size(), value.find_first_not_of(" \t")));
        with_context(fmt::format("{}:{}", where, line_no), [&] { set(name, value); });
    }
}

void Settings::load_default_config() {
    auto file = default_config_file();
    if (std::filesystem::exists(file)) apply_config(read_file(file), file.string());
}

unsigned Settings::effective_max_jobs() const {
    if (max_jobs) return max_jobs;
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

std::filesystem::path default_config_file() { return xdg_dir("XDG_CONFIG_HOME", ".config") / "ferry" / "ferry.conf"; }
std::filesystem::path xdg_data_home() { return xdg_dir("XDG_DATA_HOME", ".local/share"); }
std::filesystem::path xdg_cache_home() { return xdg_dir("XDG_CACHE_HOME", ".cache"); }

} // namespace ferry
