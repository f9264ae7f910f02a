#include "progress_line.hh"

#include <fmt/format.h>

namespace ferry::cli {

namespace {

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", double(bytes) / (1024.0 * 1024.0)); }

} // namespace

ProgressLine::ProgressLine(boost::asio::io_context& io, bool terminal, bool print_build_logs,
                           Verbosity verbosity)
    : timer_(io), terminal_(terminal), print_build_logs_(print_build_logs), verbosity_(verbosity) {}

Verbosity ProgressLine::message_level(std::string_view text) {
    if (text.starts_with("error: ") || text.starts_with("last log lines of ")) return Verbosity::error;
    if (text.starts_with("warning: ")) return Verbosity::warn;
    return Verbosity::info;
}

ProgressLine::~ProgressLine() { finish(); }

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

void ProgressLine::clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
}

void ProgressLine::draw() {
    scheduled_ = false;
    if (!terminal_) return;
    clear();
    std::fputs(render(counters).c_str(), stderr);
    std::fflush(stderr);
    shown_ = true;
    last_draw_ = std::chrono::steady_clock::now();
}

void ProgressLine::update() {
    if (!terminal_ || scheduled_) return;
    auto next = last_draw_ + std::chrono::milliseconds(100);
    scheduled_ = true;
    timer_.expires_at(next);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) draw();
        else scheduled_ = false;
    });
}

void ProgressLine::message(std::string_view text) {
    if (message_level(text) > verbosity_) return;
    clear();
    std::fprintf(stderr, "%.*s\n", int(text.size()), text.data());
    if (terminal_) draw();
    std::fflush(stderr);
}

void ProgressLine::build_log_line(std::string_view drv, std::string_view data) {
    if (!print_build_logs_) return;
    clear();
    auto name = drv.substr(drv.rfind('/') + 1);
    size_t pos = 0;
    while (pos < data.size()) {
        auto nl = data.find('\n', pos);
        auto line = data.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        std::fprintf(stderr, "%.*s> %.*s\n", int(name.size()), name.data(), int(line.size()), line.data());
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    if (terminal_) draw();
}

void ProgressLine::finish() {
    timer_.cancel();
    clear();
    std::fflush(stderr);
}

} // namespace ferry::cli
