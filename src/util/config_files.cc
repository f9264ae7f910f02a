#include "ferry/util/config_files.hh"

#include <cstdlib>

#include "ferry/util/file.hh"
#include "ferry/util/settings.hh"
#include "ferry/util/strings.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

/// Nix recurses without a bound (a cycle overflows its stack); a cycle here is an error.
constexpr int kMaxIncludeDepth = 32;

using OnFile = std::function<void(const fs::path&)>;

void parse_text(std::string_view text, const std::string& source, const ConfigLineSink& sink,
                const OnFile& on_file, int depth);

bool parse_file(const fs::path& path, const ConfigLineSink& sink, const OnFile& on_file, int depth) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const SysError&) {
        return false; // missing, unreadable or a directory: Nix skips it silently
    }
    if (on_file) on_file(path);
    parse_text(text, path.string(), sink, on_file, depth);
    return true;
}

/// "include PATH" / "!include PATH" at `where`: PATH is relative to the including file's directory
/// (to the working directory for a text that is no file, as NIX_CONFIG).
void include(std::string_view target, bool ignore_missing, const std::string& source,
             const std::string& where, const ConfigLineSink& sink, const OnFile& on_file, int depth) {
    if (depth >= kMaxIncludeDepth)
        throw ConfigError("{}: includes are nested more than {} deep (an include cycle?)", where,
                          kMaxIncludeDepth);
    fs::path path = fs::path(source).parent_path() / target;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        if (ignore_missing) return;
        throw ConfigError("{}: included file '{}' not found", where, path.string());
    }
    parse_file(path, sink, on_file, depth + 1);
}

void parse_text(std::string_view text, const std::string& source, const ConfigLineSink& sink,
                const OnFile& on_file, int depth) {
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
        auto eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        auto line = text.substr(pos, eol - pos);
        pos = eol + 1;
        auto where = fmt::format("{}:{}", source, ++line_no);
        line = line.substr(0, line.find('#'));
        auto words = split_words(line);
        if (words.empty()) continue;
        auto illegal = [&] { return ConfigError("{}: illegal configuration line '{}'", where, line); };
        if (words[0] == "include" || words[0] == "!include") {
            if (words.size() != 2) throw illegal();
            include(words[1], words[0] == "!include", source, where, sink, on_file, depth);
            continue;
        }
        if (words.size() < 2 || words[1] != "=") throw illegal();
        std::string value;
        for (size_t i = 2; i < words.size(); ++i) {
            if (i > 2) value += ' ';
            value += words[i];
        }
        try {
            sink(words[0], value, where);
        } catch (const Error& e) {
            throw ConfigError("{}: {}", where, e.what());
        }
    }
}

std::vector<std::string> split_colons(std::string_view text) {
    std::vector<std::string> out;
    for (size_t pos = 0; pos <= text.size();) {
        auto colon = std::min(text.find(':', pos), text.size());
        if (colon > pos) out.emplace_back(text.substr(pos, colon - pos));
        pos = colon + 1;
    }
    return out;
}

} // namespace

void parse_config(std::string_view text, const std::string& source, const ConfigLineSink& sink,
                  const OnFile& on_file) {
    parse_text(text, source, sink, on_file, 0);
}

bool parse_config_file(const fs::path& path, const ConfigLineSink& sink, const OnFile& on_file) {
    return parse_file(path, sink, on_file, 0);
}

std::vector<fs::path> nix_config_files() {
    const char* conf_dir = std::getenv("NIX_CONF_DIR");
    std::vector<fs::path> files{fs::path(conf_dir && *conf_dir ? conf_dir : "/etc/nix") / "nix.conf"};
    std::vector<std::string> user;
    if (const char* list = std::getenv("NIX_USER_CONF_FILES")) {
        user = split_colons(list);
    } else {
        const char* dirs = std::getenv("XDG_CONFIG_DIRS");
        user.push_back((xdg_config_home() / "nix" / "nix.conf").string());
        for (const auto& dir : split_colons(dirs ? dirs : "/etc/xdg"))
            user.push_back(dir + "/nix/nix.conf");
    }
    // The first has the highest precedence, so it is applied last.
    files.insert(files.end(), user.rbegin(), user.rend());
    return files;
}

} // namespace ferry
