#include "ferry/store/auto_gc.hh"

#include <sys/statvfs.h>

#include "ferry/util/events.hh"

namespace ferry {

AutoGc::AutoGc(LocalStore& store, uint64_t min_free, uint64_t max_free, std::chrono::seconds interval,
               GcOptions options)
    : store_(store), min_free_(min_free), max_free_(max_free), interval_(interval), options_(options) {
    options_.action = GcOptions::Action::delete_dead;
}

uint64_t AutoGc::available() const {
    struct statvfs st;
    auto dir = store_.config().real_store_dir();
    if (::statvfs(dir.c_str(), &st) != 0)
        throw SysError("getting file system information about '" + dir.string() + "'");
    return uint64_t(st.f_bavail) * st.f_frsize;
}

void AutoGc::check() {
    if (min_free_ == 0) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock) return; // another build's check is collecting
    auto now = std::chrono::steady_clock::now();
    if (checked_ && now < last_check_ + interval_) return;
    checked_ = true;
    last_check_ = now;
    try {
        uint64_t avail = available();
        if (avail >= min_free_ || avail >= max_free_) return;
        GcOptions o = options_;
        o.max_freed = max_free_ - avail;
        log_at(Level::info, "running auto-GC to free {} bytes", o.max_freed);
        collect_garbage(store_, o);
    } catch (const Error& e) {
        warn("automatic garbage collection failed: {}", e.what());
    }
    last_check_ = std::chrono::steady_clock::now();
}

} // namespace ferry
