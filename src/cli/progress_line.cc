#include "progress_line.hh"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace ferry::cli {

namespace {

std::string mib(uint64_t bytes) {
    return fmt::format("{:.1f} MiB", double(bytes) / (1024.0 * 1024.0));
}

} // namespace

ProgressLine::ProgressLine(bool terminal, Level verbosity, std::FILE* out)
    : terminal_(terminal), verbosity_(verbosity), out_(out) {}

ProgressLine::~ProgressLine() {
    detach();
    finish();
}

std::string ProgressLine::render(const ProgressCounters& c) {
    std::string s = "[";
    s += fmt::format("{}/{} built", c.builds_done, c.builds_expected);
    s += fmt::format(", {}/{} fetched", c.fetches_done, c.fetches_expected);
    if (c.download_bytes || c.download_expected) s += fmt::format(" ({})", mib(c.download_bytes));
    size_t running = c.builds_running + c.fetches_running;
    if (running) s += fmt::format(", {} running", running);
    if (c.failed) s += fmt::format(", {} failed", c.failed);
    return s + "]";
}

void ProgressLine::set_verbosity(Level verbosity) {
    std::lock_guard lock(mutex_);
    verbosity_ = verbosity;
}

void ProgressLine::set_enabled(bool on) {
    std::lock_guard lock(mutex_);
    enabled_ = on;
}

void ProgressLine::set_print_build_logs(bool on) {
    std::lock_guard lock(mutex_);
    print_build_logs_ = on;
}

void ProgressLine::attach(boost::asio::io_context& io) {
    std::lock_guard lock(mutex_);
    io_ = &io;
    timer_ = std::make_unique<boost::asio::steady_timer>(io);
    scheduled_ = false;
    finished_ = false;
}

void ProgressLine::detach() {
    std::lock_guard lock(mutex_);
    timer_.reset();
    io_ = nullptr;
    scheduled_ = false;
}

void ProgressLine::on_event(const LogEvent& event) {
    counters_.on_event(event);
    std::lock_guard lock(mutex_);
    if (!enabled_) return;
    if (const auto* m = std::get_if<LogMessage>(&event)) {
        if (m->level <= verbosity_) print(m->text);
        return;
    }
    if (const auto* s = std::get_if<ActivityStarted>(&event)) {
        if (s->type == ActivityType::build) {
            auto drv = field_str(s->fields, 0);
            build_names_[s->id] = drv.substr(drv.rfind('/') + 1);
        }
        if (!s->text.empty() && s->level <= verbosity_) print(s->text);
    } else if (const auto* r = std::get_if<ActivityResult>(&event)) {
        if (r->type == ResultType::build_log_line && print_build_logs_) {
            auto it = build_names_.find(r->id);
            auto line = field_str(r->fields, 0);
            print(it == build_names_.end() ? line : it->second + "> " + line);
        }
    } else if (const auto* e = std::get_if<ActivityStopped>(&event)) {
        build_names_.erase(e->id);
    }
    schedule();
}

void ProgressLine::print(std::string_view text) {
    clear();
    std::fprintf(out_, "%.*s\n", int(text.size()), text.data());
    if (terminal_ && !finished_) draw();
    std::fflush(out_);
}

void ProgressLine::clear() {
    if (shown_) std::fputs("\r\033[K", out_);
    shown_ = false;
}

void ProgressLine::draw() {
    if (!terminal_ || !io_ || !enabled_) return;
    clear();
    std::fputs(render(counters_.counters()).c_str(), out_);
    std::fflush(out_);
    shown_ = true;
    last_draw_ = std::chrono::steady_clock::now();
}

void ProgressLine::schedule() {
    if (!terminal_ || !io_ || scheduled_ || finished_) return;
    scheduled_ = true;
    // The timer belongs to the loop's thread; an event may come from the pool.
    boost::asio::post(*io_, [this] {
        std::lock_guard lock(mutex_);
        if (!timer_) return;
        timer_->expires_at(last_draw_ + std::chrono::milliseconds(100));
        timer_->async_wait([this](const boost::system::error_code& ec) {
            if (!ec) on_timer();
        });
    });
}

void ProgressLine::on_timer() {
    std::lock_guard lock(mutex_);
    scheduled_ = false;
    if (!finished_) draw();
}

void ProgressLine::finish() {
    std::lock_guard lock(mutex_);
    if (timer_) timer_->cancel();
    scheduled_ = false;
    finished_ = true;
    clear();
    std::fflush(out_);
}

ProgressLine& console() {
    static ProgressLine line(::isatty(STDERR_FILENO) == 1);
    static EventBus::Subscription subscription = events().subscribe(line);
    return line;
}

} // namespace ferry::cli
