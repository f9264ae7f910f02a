#pragma once
/// Per-build log files, laid out as Nix does: `<state>/log/drvs/<first 2 chars>/<rest of the .drv base
/// name>`, so `ferry log PATH` finds the log of a derivation or of one of its outputs.

#include <deque>
#include <filesystem>
#include <string>
#include <string_view>

#include "ferry/store/store_path.hh"
#include "ferry/util/file.hh"

namespace ferry {

class LocalStore;

/// Where the log of building `drv` is kept.
std::filesystem::path build_log_path(const LocalStore& store, const StorePath& drv);

/// Writes a build's output to its log file and keeps the last lines for error messages. One per
/// build; loop thread only.
class BuildLog {
public:
    static constexpr size_t kTailLines = 10;

    BuildLog(const LocalStore& store, const StorePath& drv);
    /// Writes to `file` (its directories created); an empty path keeps the tail only (no file). Blocking.
    explicit BuildLog(std::filesystem::path file);
    /// Appends builder output (any chunking).
    void append(std::string_view data);
    /// The last kTailLines complete or partial lines.
    std::string tail() const;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    UniqueFd fd_;
    std::deque<std::string> tail_;
    std::string partial_;
};

} // namespace ferry
