#pragma once
// Nix's `--log-format internal-json`: every event as one line on stderr, "@nix " and a JSON object
// ({"action":"start","id":…,"level":…,"parent":…,"text":…,"type":…,"fields":[…]}, "stop", "result",
// "msg"), as Nix 2.8's JSONLogger writes them, for tools that read Nix's log (nix-output-monitor).
// Messages above the verbosity are left out; activities and results are all written.

#include <cstdio>
#include <mutex>
#include <string>

#include "ferry/util/events.hh"

namespace ferry::cli {

class JsonLogSink final : public EventSink {
public:
    explicit JsonLogSink(Level verbosity = Level::info, std::FILE* out = stderr)
        : verbosity_(verbosity), out_(out) {}
    void on_event(const LogEvent& event) override;
    void set_verbosity(Level verbosity) { verbosity_ = verbosity; }
    /// The JSON object of `event` (without "@nix ").
    static std::string to_json(const LogEvent& event);

private:
    Level verbosity_;
    std::FILE* out_;
};

} // namespace ferry::cli
