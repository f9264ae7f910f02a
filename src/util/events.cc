#include "ferry/util/events.hh"

#include <algorithm>

namespace ferry {

uint64_t field_int(const Fields& fields, size_t i) {
    if (i >= fields.size()) return 0;
    const auto* n = std::get_if<uint64_t>(&fields[i]);
    return n ? *n : 0;
}

std::string field_str(const Fields& fields, size_t i) {
    if (i >= fields.size()) return {};
    const auto* s = std::get_if<std::string>(&fields[i]);
    return s ? *s : std::string();
}

void EventBus::emit(const LogEvent& event) {
    std::lock_guard lock(mutex_);
    for (auto* sink : sinks_)
        sink->on_event(event);
}

EventBus::Subscription::Subscription(EventBus& bus, EventSink& sink) : bus_(&bus), sink_(&sink) {
    std::lock_guard lock(bus.mutex_);
    bus.sinks_.push_back(&sink);
}

EventBus::Subscription& EventBus::Subscription::operator=(Subscription&& o) noexcept {
    if (this != &o) {
        reset();
        bus_ = std::exchange(o.bus_, nullptr);
        sink_ = o.sink_;
    }
    return *this;
}

void EventBus::Subscription::reset() {
    if (!bus_) return;
    std::lock_guard lock(bus_->mutex_);
    auto& sinks = bus_->sinks_;
    sinks.erase(std::find(sinks.begin(), sinks.end(), sink_));
    bus_ = nullptr;
}

EventBus& events() {
    static EventBus bus;
    return bus;
}

void log_message(EventBus& bus, Level level, std::string text) {
    bus.emit(LogMessage{level, std::move(text)});
}

Activity::Activity(EventBus& bus, ActivityType type, Level level, std::string text, Fields fields,
                   ActivityId parent)
    : bus_(&bus), id_(bus.next_id()) {
    bus.emit(ActivityStarted{id_, type, level, std::move(text), std::move(fields), parent});
}

Activity& Activity::operator=(Activity&& o) noexcept {
    if (this != &o) {
        stop();
        bus_ = std::exchange(o.bus_, nullptr);
        id_ = std::exchange(o.id_, 0);
    }
    return *this;
}

void Activity::stop() noexcept {
    if (!bus_) return;
    auto* bus = std::exchange(bus_, nullptr);
    try {
        bus->emit(ActivityStopped{id_});
    } catch (...) {
        // A sink that cannot take the stop (out of memory) must not turn a destructor into terminate().
    }
}

void Activity::result(ResultType type, Fields fields) const {
    if (bus_) bus_->emit(ActivityResult{id_, type, std::move(fields)});
}

} // namespace ferry
