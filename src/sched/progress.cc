// Progress: the worker's reports as events. The handles (BuildActivity, SubstituteActivity) are what the
// goals will hold; the older calls are bridged onto anonymous handles until the goals hold their own.

#include "ferry/sched/progress.hh"

#include <fmt/format.h>

namespace ferry {

// ---- BuildActivity

BuildActivity::BuildActivity(Progress& progress, std::string drv)
    : progress_(&progress), drv_(std::move(drv)),
      waiting_(progress.bus(), ActivityType::build_waiting, Level::vomit,
               drv_.empty() ? std::string() : fmt::format("waiting to build '{}'", drv_), {drv_}) {}

BuildActivity::BuildActivity(BuildActivity&& o) noexcept {
    *this = std::move(o);
}

BuildActivity& BuildActivity::operator=(BuildActivity&& o) noexcept {
    if (this == &o) return *this;
    if (progress_ && building_.active()) progress_->running_builds_.erase(drv_);
    progress_ = std::exchange(o.progress_, nullptr);
    drv_ = std::move(o.drv_);
    partial_ = std::move(o.partial_);
    waiting_ = std::move(o.waiting_);
    bool registered = o.building_.active() && progress_ && progress_->running_builds_.count(drv_);
    building_ = std::move(o.building_);
    if (registered) progress_->running_builds_[drv_] = this;
    return *this;
}

BuildActivity::~BuildActivity() {
    if (!progress_) return;
    if (building_.active() && std::exchange(progress_->legacy_build_done_, false)) succeeded();
    if (!partial_.empty()) building_.result(ResultType::build_log_line, {std::move(partial_)});
    if (building_.active()) {
        auto it = progress_->running_builds_.find(drv_);
        if (it != progress_->running_builds_.end() && it->second == this)
            progress_->running_builds_.erase(it);
    }
}

void BuildActivity::start(const std::string& machine) {
    if (!progress_ || building_.active()) return;
    waiting_.stop();
    // Nix's fields of actBuild: the derivation, the machine ("" for this one), round, rounds.
    std::string text;
    if (!drv_.empty())
        text = machine.empty() ? fmt::format("building '{}'...", drv_)
                               : fmt::format("building '{}' on '{}'...", drv_, machine);
    building_ = Activity(progress_->bus(), ActivityType::build, Level::info, text,
                         {drv_, machine, uint64_t(1), uint64_t(1)});
    progress_->running_builds_[drv_] = this;
}

void BuildActivity::log(std::string_view data) {
    partial_ += data;
    size_t pos = 0;
    for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', pos)) {
        building_.result(ResultType::build_log_line, {partial_.substr(pos, nl - pos)});
        pos = nl + 1;
    }
    partial_.erase(0, pos);
}

void BuildActivity::succeeded() {
    if (building_.active()) building_.progress(1, 1);
}

void BuildActivity::failed() {
    if (building_.active())
        building_.progress(0, 1, 0, 1);
    else if (waiting_.active())
        waiting_.progress(0, 1, 0, 1);
    else if (progress_) // the handle ended already
        progress_->build_failed(drv_);
}

// ---- SubstituteActivity

SubstituteActivity::SubstituteActivity(Progress& progress, std::string path)
    : progress_(&progress), path_(std::move(path)),
      unit_(progress.bus(), ActivityType::substitute, Level::vomit,
            path_.empty() ? std::string() : fmt::format("substituting '{}'", path_), {path_}) {}

void SubstituteActivity::begin_copy(const std::string& cache, uint64_t file_size) {
    end_copy(true);
    cache_ = cache;
    bytes_ = 0;
    expected_ = file_size;
    std::string text;
    if (!path_.empty()) text = fmt::format("copying path '{}' from '{}'", path_, cache);
    copy_ = Activity(progress_->bus(), ActivityType::copy_path, Level::talkative, std::move(text),
                     {path_, cache, std::string()}, unit_.id());
    copy_.progress(0, expected_, 1, 0);
}

void SubstituteActivity::downloaded(uint64_t n) {
    bytes_ += n;
    copy_.progress(bytes_, expected_, 1, 0);
}

void SubstituteActivity::end_copy(bool failed) {
    if (!copy_.active()) return;
    copy_.progress(bytes_, expected_, 0, failed ? 1 : 0);
    copy_.stop();
}

void SubstituteActivity::succeeded() {
    end_copy(false);
    unit_.progress(1, 1);
    if (!path_.empty() && progress_)
        progress_->message(fmt::format("copied path '{}' from '{}'", path_, cache_));
}

// ---- LegacyCounter

LegacyCounters::LegacyCounters(Progress& p)
    : builds_expected(p, LegacyCounter::Kind::builds_expected),
      builds_done(p, LegacyCounter::Kind::builds_done),
      builds_running(p, LegacyCounter::Kind::builds_running),
      fetches_expected(p, LegacyCounter::Kind::fetches_expected),
      fetches_done(p, LegacyCounter::Kind::fetches_done),
      fetches_running(p, LegacyCounter::Kind::fetches_running), failed(p, LegacyCounter::Kind::failed),
      download_bytes(p, LegacyCounter::Kind::download_bytes),
      download_expected(p, LegacyCounter::Kind::download_expected) {}

LegacyCounter& LegacyCounter::change(int64_t delta) {
    progress_.legacy_change(kind_, delta);
    return *this;
}

LegacyCounter::operator uint64_t() const {
    auto c = progress_.derived();
    switch (kind_) {
    case Kind::builds_expected:
        return c.builds_expected;
    case Kind::builds_done:
        return c.builds_done;
    case Kind::builds_running:
        return c.builds_running;
    case Kind::fetches_expected:
        return c.fetches_expected;
    case Kind::fetches_done:
        return c.fetches_done;
    case Kind::fetches_running:
        return c.fetches_running;
    case Kind::failed:
        return c.failed;
    case Kind::download_bytes:
        return c.download_bytes;
    case Kind::download_expected:
        return c.download_expected;
    }
    return 0;
}

// ---- Progress

Progress::Progress(EventBus& bus)
    : bus_(bus), subscription_(bus.subscribe(sink_)), builds_(bus, ActivityType::builds, Level::vomit, "") {}

Progress::~Progress() {
    finish();
}

Level Progress::message_level(std::string_view text) {
    if (text.starts_with("error: ") || text.starts_with("last log lines of ")) return Level::error;
    if (text.starts_with("warning: ")) return Level::warn;
    return Level::info;
}

void Progress::message(std::string_view text) {
    log_message(bus_, message_level(text), std::string(text));
}

void Progress::build_log_line(std::string_view drv, std::string_view data) {
    auto it = running_builds_.find(drv);
    if (it != running_builds_.end()) return it->second->log(data);
    // A build that reports without a handle: its lines go to no activity.
    size_t pos = 0;
    while (pos < data.size()) {
        auto nl = data.find('\n', pos);
        auto end = nl == std::string_view::npos ? data.size() : nl;
        bus_.emit(ActivityResult{0, ResultType::build_log_line, {std::string(data.substr(pos, end - pos))}});
        pos = end + 1;
    }
}

BuildActivity Progress::start_build(std::string drv) {
    // A build the older calls announced (++builds_expected) is no longer waiting.
    if (!legacy_waiting_builds_.empty()) legacy_waiting_builds_.pop_back();
    auto build = want_build(std::move(drv));
    build.start();
    return build;
}

void Progress::build_failed(const std::string& drv) {
    Activity(bus_, ActivityType::build_waiting, Level::vomit, "", {drv}).progress(0, 1, 0, 1);
}

void Progress::finish() {
    legacy_waiting_builds_.clear();
    legacy_copies_.clear();
    legacy_fetches_.clear();
}

void Progress::legacy_change(LegacyCounter::Kind kind, int64_t delta) {
    using K = LegacyCounter::Kind;
    switch (kind) {
    case K::builds_expected:
        for (; delta > 0; --delta)
            legacy_waiting_builds_.push_back(want_build(""));
        for (; delta < 0 && !legacy_waiting_builds_.empty(); ++delta)
            legacy_waiting_builds_.pop_back();
        break;
    case K::builds_done:
        // The goal's handle (start_build) ends right after this, on the same turn of the loop.
        if (delta > 0) legacy_build_done_ = true;
        break;
    case K::builds_running: // running is the lifetime of the goal's handle
        break;
    case K::failed:
        legacy_failed_ += delta;
        builds_.progress(0, 0, 0, legacy_failed_);
        break;
    default:
        legacy_fetch_change(kind, delta);
    }
}

void Progress::legacy_fetch_change(LegacyCounter::Kind kind, int64_t delta) {
    using K = LegacyCounter::Kind;
    switch (kind) {
    case K::fetches_expected:
        for (; delta > 0; --delta)
            legacy_fetches_.push_back(want_substitute(""));
        break;
    case K::fetches_running:
        if (delta > 0) {
            if (legacy_fetches_.empty()) legacy_fetches_.push_back(want_substitute(""));
            legacy_copies_.push_back(std::move(legacy_fetches_.back()));
            legacy_fetches_.pop_back();
            legacy_copies_.back().begin_copy("", 0);
        } else if (delta < 0 && !legacy_copies_.empty()) {
            auto unit = std::move(legacy_copies_.back());
            legacy_copies_.pop_back();
            if (std::exchange(legacy_fetch_done_, false)) {
                unit.succeeded();
            } else { // failed: another cache may be tried, the path is still wanted
                unit.end_copy(true);
                legacy_fetches_.push_back(std::move(unit));
            }
        }
        break;
    case K::fetches_done:
        if (delta > 0) legacy_fetch_done_ = true;
        break;
    case K::download_expected:
        // A copy that fails leaves its expected bytes by itself: only the increase is news.
        if (delta > 0 && !legacy_copies_.empty()) {
            auto& copy = legacy_copies_.back();
            copy.expected_ += delta;
            copy.copy_.progress(copy.bytes_, copy.expected_, 1, 0);
        }
        break;
    case K::download_bytes:
        if (delta > 0 && !legacy_copies_.empty()) legacy_copies_.back().downloaded(delta);
        break;
    default:
        break;
    }
}

} // namespace ferry
