#include "ferry/sched/progress_counters.hh"

namespace ferry {

namespace {

bool counts_failures(ActivityType t) {
    return t == ActivityType::build || t == ActivityType::build_waiting || t == ActivityType::builds;
}

bool tracked(ActivityType t) {
    return counts_failures(t) || t == ActivityType::substitute || t == ActivityType::copy_path;
}

} // namespace

void CounterSink::on_event(const LogEvent& event) {
    std::lock_guard lock(mutex_);
    if (const auto* s = std::get_if<ActivityStarted>(&event)) {
        if (tracked(s->type)) live_.emplace(s->id, Live{s->type});
    } else if (const auto* r = std::get_if<ActivityResult>(&event)) {
        auto it = live_.find(r->id);
        if (it == live_.end() || r->type != ResultType::progress) return;
        it->second.done = field_int(r->fields, 0);
        it->second.expected = field_int(r->fields, 1);
        it->second.running = field_int(r->fields, 2);
        it->second.failed = field_int(r->fields, 3);
    } else if (const auto* e = std::get_if<ActivityStopped>(&event)) {
        auto it = live_.find(e->id);
        if (it == live_.end()) return;
        stopped(it->second);
        live_.erase(it);
    }
}

void CounterSink::stopped(const Live& a) {
    if (counts_failures(a.type)) failed_ += a.failed;
    switch (a.type) {
    case ActivityType::build:
        builds_done_ += a.done;
        break;
    case ActivityType::substitute:
        fetches_done_ += a.done;
        break;
    case ActivityType::copy_path:
        bytes_done_ += a.done;
        if (!a.failed && !a.running) bytes_expected_ += a.expected;
        break;
    default:
        break;
    }
}

ProgressCounters CounterSink::counters() const {
    std::lock_guard lock(mutex_);
    ProgressCounters c;
    c.builds_done = builds_done_;
    c.fetches_done = fetches_done_;
    c.failed = failed_;
    c.download_bytes = bytes_done_;
    c.download_expected = bytes_expected_;
    size_t waiting_builds = 0, waiting_fetches = 0;
    for (const auto& [_, a] : live_) {
        if (counts_failures(a.type)) c.failed += a.failed;
        bool finished = a.done || a.failed;
        switch (a.type) {
        case ActivityType::build_waiting:
            if (!finished) ++waiting_builds;
            break;
        case ActivityType::build:
            c.builds_done += a.done;
            if (!finished) ++c.builds_running;
            break;
        case ActivityType::substitute:
            c.fetches_done += a.done;
            if (!finished) ++waiting_fetches;
            break;
        case ActivityType::copy_path:
            ++c.fetches_running;
            c.download_bytes += a.done;
            if (!a.failed) c.download_expected += a.expected;
            break;
        default:
            break;
        }
    }
    c.builds_expected = c.builds_done + c.builds_running + waiting_builds;
    c.fetches_expected = c.fetches_done + waiting_fetches;
    return c;
}

} // namespace ferry
