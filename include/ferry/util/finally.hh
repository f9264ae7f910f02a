#pragma once
/// Runs a callable when the scope ends, unless dismissed.

#include <utility>

namespace ferry {

template <typename Fn> class Finally {
public:
    explicit Finally(Fn fn) : fn_(std::move(fn)) {}
    ~Finally() {
        if (active_) fn_();
    }
    Finally(const Finally&) = delete;
    Finally& operator=(const Finally&) = delete;
    void dismiss() noexcept { active_ = false; }

private:
    Fn fn_;
    bool active_ = true;
};

} // namespace ferry
