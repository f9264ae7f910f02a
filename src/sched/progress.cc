// Progress: the worker's reports as events, through the handles the goals hold (BuildActivity,
// SubstituteActivity) and messages.

#include "ferry/sched/progress.hh"

#include <fmt/format.h>

namespace ferry {

// ---- BuildActivity

namespace {
Activity waiting_activity(EventBus& bus, const std::string& drv) {
    return Activity(bus, ActivityType::build_waiting, Level::vomit,
                    drv.empty() ? std::string() : fmt::format("waiting to build '{}'", drv), {drv});
}
} // namespace

BuildActivity::BuildActivity(Progress& progress, std::string drv)
    : progress_(&progress), drv_(std::move(drv)), waiting_(waiting_activity(progress.bus(), drv_)) {}

BuildActivity::BuildActivity(BuildActivity&& o) noexcept {
    *this = std::move(o);
}

BuildActivity& BuildActivity::operator=(BuildActivity&& o) noexcept {
    if (this == &o) return *this;
    progress_ = std::exchange(o.progress_, nullptr);
    drv_ = std::move(o.drv_);
    partial_ = std::move(o.partial_);
    waiting_ = std::move(o.waiting_);
    building_ = std::move(o.building_);
    return *this;
}

BuildActivity::~BuildActivity() {
    if (!progress_) return;
    if (!partial_.empty()) building_.result(ResultType::build_log_line, {std::move(partial_)});
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
}

void BuildActivity::requeue() {
    if (!progress_ || !building_.active()) return;
    if (!partial_.empty()) building_.result(ResultType::build_log_line, {std::exchange(partial_, {})});
    building_.stop();
    waiting_ = waiting_activity(progress_->bus(), drv_);
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

// ---- Progress

Progress::Progress(EventBus& bus) : bus_(bus), subscription_(bus.subscribe(sink_)) {}

Progress::~Progress() = default;

Level Progress::message_level(std::string_view text) {
    if (text.starts_with("error: ") || text.starts_with("last log lines of ")) return Level::error;
    if (text.starts_with("warning: ")) return Level::warn;
    return Level::info;
}

void Progress::message(std::string_view text) {
    log_message(bus_, message_level(text), std::string(text));
}

BuildActivity Progress::start_build(std::string drv) {
    auto build = want_build(std::move(drv));
    build.start();
    return build;
}

void Progress::build_failed(const std::string& drv) {
    Activity(bus_, ActivityType::build_waiting, Level::vomit, "", {drv}).progress(0, 1, 0, 1);
}

} // namespace ferry
