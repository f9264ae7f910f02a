#include "support/events_check.hh"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ferry::test {

void EventRecorder::on_event(const LogEvent& event) {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
}

std::vector<LogEvent> EventRecorder::recorded() const {
    std::lock_guard lock(mutex_);
    return events_;
}

ProgressCounters EventRecorder::counters() const {
    return derive_counters(recorded());
}

std::vector<std::string> EventRecorder::lines(Level level) const {
    std::vector<std::string> out;
    for (const auto& e : recorded()) {
        if (const auto* m = std::get_if<LogMessage>(&e); m && m->level <= level) out.push_back(m->text);
        if (const auto* s = std::get_if<ActivityStarted>(&e); s && s->level <= level && !s->text.empty())
            out.push_back(s->text);
    }
    return out;
}

size_t EventRecorder::started(ActivityType type) const {
    size_t n = 0;
    for (const auto& e : recorded())
        if (const auto* s = std::get_if<ActivityStarted>(&e); s && s->type == type) ++n;
    return n;
}

size_t EventRecorder::live() const {
    size_t n = 0;
    for (const auto& e : recorded()) {
        if (std::holds_alternative<ActivityStarted>(e)) ++n;
        if (std::holds_alternative<ActivityStopped>(e)) --n;
    }
    return n;
}

namespace {

Fields fields_of(const nlohmann::json& j) {
    Fields f;
    if (!j.contains("fields")) return f;
    for (const auto& v : j["fields"]) {
        if (v.is_string())
            f.emplace_back(v.get<std::string>());
        else
            f.emplace_back(v.get<uint64_t>());
    }
    return f;
}

} // namespace

std::vector<LogEvent> parse_internal_json(std::string_view log) {
    std::vector<LogEvent> out;
    size_t pos = 0;
    while (pos < log.size()) {
        auto nl = log.find('\n', pos);
        auto line = log.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? log.size() : nl + 1;
        if (!line.starts_with("@nix ")) continue;
        auto j = nlohmann::json::parse(line.substr(5));
        auto action = j.at("action").get<std::string>();
        if (action == "start")
            out.push_back(ActivityStarted{j.at("id"), ActivityType(j.at("type").get<int>()),
                                          Level(j.at("level").get<int>()), j.at("text"), fields_of(j),
                                          j.at("parent")});
        else if (action == "stop")
            out.push_back(ActivityStopped{j.at("id")});
        else if (action == "result")
            out.push_back(ActivityResult{j.at("id"), ResultType(j.at("type").get<int>()), fields_of(j)});
        else if (action == "msg")
            out.push_back(LogMessage{Level(j.at("level").get<int>()), j.at("msg")});
    }
    return out;
}

ProgressCounters derive_counters(const std::vector<LogEvent>& events) {
    CounterSink sink;
    for (const auto& e : events)
        sink.on_event(e);
    return sink.counters();
}

std::string unsettled(const ProgressCounters& c) {
    if (c.settled()) return "";
    return fmt::format("not settled: {}/{} built, {} building; {}/{} fetched, {} fetching; {} failed",
                       c.builds_done, c.builds_expected, c.builds_running, c.fetches_done, c.fetches_expected,
                       c.fetches_running, c.failed);
}

} // namespace ferry::test
