#include "json_log.hh"

#include <nlohmann/json.hpp>

namespace ferry::cli {

namespace {

nlohmann::json fields_json(const Fields& fields) {
    auto a = nlohmann::json::array();
    for (const auto& f : fields)
        std::visit([&a](const auto& v) { a.push_back(v); }, f);
    return a;
}

} // namespace

std::string JsonLogSink::to_json(const LogEvent& event) {
    nlohmann::json j;
    if (const auto* s = std::get_if<ActivityStarted>(&event)) {
        j = {{"action", "start"},   {"id", s->id},     {"level", int(s->level)},
             {"parent", s->parent}, {"text", s->text}, {"type", int(s->type)}};
        if (!s->fields.empty()) j["fields"] = fields_json(s->fields);
    } else if (const auto* e = std::get_if<ActivityStopped>(&event)) {
        j = {{"action", "stop"}, {"id", e->id}};
    } else if (const auto* r = std::get_if<ActivityResult>(&event)) {
        j = {{"action", "result"}, {"id", r->id}, {"type", int(r->type)}, {"fields", fields_json(r->fields)}};
    } else if (const auto* m = std::get_if<LogMessage>(&event)) {
        j = {{"action", "msg"}, {"level", int(m->level)}, {"msg", m->text}};
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void JsonLogSink::on_event(const LogEvent& event) {
    if (const auto* m = std::get_if<LogMessage>(&event); m && m->level > verbosity_) return;
    auto line = "@nix " + to_json(event) + "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
}

} // namespace ferry::cli
