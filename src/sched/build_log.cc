#include "ferry/sched/build_log.hh"

#include <fcntl.h>

#include "ferry/store/local_store.hh"

namespace ferry {

std::filesystem::path build_log_path(const LocalStore& store, const StorePath& drv) {
    const auto& base = drv.to_string();
    return store.config().state_dir() / "log" / "drvs" / base.substr(0, 2) / base.substr(2);
}

BuildLog::BuildLog(const LocalStore& store, const StorePath& drv) : BuildLog(build_log_path(store, drv)) {}

BuildLog::BuildLog(std::filesystem::path file) : path_(std::move(file)) {
    if (path_.empty()) return;
    std::filesystem::create_directories(path_.parent_path());
    fd_ = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd_) throw SysError("creating build log '" + path_.string() + "'");
}

void BuildLog::append(std::string_view data) {
    if (fd_) write_full(fd_.get(), data, "build log '" + path_.string() + "'");
    for (char c : data) {
        if (c != '\n') {
            if (partial_.size() < 4096) partial_ += c;
            continue;
        }
        tail_.push_back(std::move(partial_));
        partial_.clear();
        if (tail_.size() > kTailLines) tail_.pop_front();
    }
}

std::string BuildLog::tail() const {
    std::string out;
    size_t skip = (tail_.size() + (partial_.empty() ? 0 : 1) > kTailLines) ? 1 : 0;
    for (const auto& l : tail_) {
        if (skip) {
            --skip;
            continue;
        }
        out += l + "\n";
    }
    if (!partial_.empty()) out += partial_ + "\n";
    return out;
}

} // namespace ferry
