#pragma once
/// Nix's configuration files: their syntax (Nix 2.8's AbstractConfig::applyConfig) and where Nix looks
/// for them (loadConfFile). Pure parsing apart from reading the files named; Settings applies the result.
///
/// Syntax: one "name = value" a line, words separated by blanks (the value is its words joined by one
/// space), '#' starts a comment anywhere, empty lines are skipped; "include PATH" reads another file
/// (relative to the including one; an error when missing), "!include PATH" the same, silently skipped
/// when missing.

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/util/error.hh"

namespace ferry {

/// A configuration file or text that does not parse, or names a missing include. The message starts
/// with "FILE:LINE: ".
class ConfigError : public Error {
public:
    using Error::Error;
};

/// Receives each "name = value" line; `where` is "FILE:LINE" (or "NIX_CONFIG:LINE").
using ConfigLineSink =
    std::function<void(std::string_view name, std::string_view value, const std::string& where)>;

/// Parses `text`. `source` names it: a file's path (includes are relative to its directory) or a name
/// such as "NIX_CONFIG" (includes relative to the working directory). `on_file` (may be empty) is told
/// of each included file read. Throws ConfigError; what `sink` throws rises with "FILE:LINE" added.
void parse_config(std::string_view text, const std::string& source, const ConfigLineSink& sink,
                  const std::function<void(const std::filesystem::path&)>& on_file = {});

/// Parses the file at `path` when it can be read, as Nix does (a missing or unreadable file is no
/// error); returns whether it was read.
bool parse_config_file(const std::filesystem::path& path, const ConfigLineSink& sink,
                       const std::function<void(const std::filesystem::path&)>& on_file = {});

/// The nix.conf files Nix 2.8 reads, lowest precedence first: `$NIX_CONF_DIR/nix.conf` (default
/// /etc/nix), then the user's: the files of `$NIX_USER_CONF_FILES` (colon-separated) when it is set,
/// else `DIR/nix/nix.conf` for `$XDG_CONFIG_HOME` (default ~/.config) and each DIR of `$XDG_CONFIG_DIRS`
/// (default /etc/xdg); of the user's, the first listed wins, so it comes last. Files that do not exist
/// are listed too.
std::vector<std::filesystem::path> nix_config_files();

} // namespace ferry
