#include "ferry/http/body_gate.hh"

namespace ferry::http {

void BodyGate::close() noexcept {
    std::lock_guard lock(mutex_);
    open_ = false;
}

void BodyGate::open() {
    std::function<void()> resume;
    {
        std::lock_guard lock(mutex_);
        open_ = true;
        resume.swap(resume_);
    }
    // Outside the lock: the callback posts to the client's loop, which may call hold() meanwhile.
    if (resume) resume();
}

bool BodyGate::is_open() const noexcept {
    std::lock_guard lock(mutex_);
    return open_;
}

bool BodyGate::hold(std::function<void()> resume) {
    std::lock_guard lock(mutex_);
    if (open_) return false;
    resume_ = std::move(resume);
    return true;
}

} // namespace ferry::http
