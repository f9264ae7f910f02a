#include "machine_slots.hh"

#include <algorithm>

#include <boost/system/system_error.hpp>

#include "ferry/sched/builder.hh"

namespace asio = boost::asio;

namespace ferry {

struct MachineSlots::Request {
    Request(const asio::any_io_executor& ex, StorePath d, unsigned h, uint64_t s, std::vector<size_t> c)
        : drv(std::move(d)), height(h), seq(s), candidates(std::move(c)), ready(ex) {}
    StorePath drv;
    unsigned height;
    uint64_t seq;
    std::vector<size_t> candidates;
    Event ready;
    std::optional<size_t> granted;
    bool failed = false;
};

bool MachineSlots::Order::operator()(const std::shared_ptr<Request>& a,
                                     const std::shared_ptr<Request>& b) const {
    if (a->height != b->height) return a->height > b->height;
    return a->seq < b->seq;
}

MachineSlots::Slot& MachineSlots::Slot::operator=(Slot&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = o.owner_;
        machine_ = o.machine_;
        o.owner_ = nullptr;
    }
    return *this;
}

void MachineSlots::Slot::release() noexcept {
    if (owner_) owner_->release(machine_);
    owner_ = nullptr;
}

MachineSlots::MachineSlots(const asio::any_io_executor& ex, std::vector<Machine> machines, Backoff backoff)
    : ex_(ex), backoff_(backoff), timer_(ex) {
    for (auto& m : machines)
        machines_.push_back(State{.spec = std::move(m)});
}

MachineSlots::~MachineSlots() = default;

asio::awaitable<MachineSlots::Slot> MachineSlots::acquire(const StorePath& drv, unsigned height,
                                                          std::vector<size_t> candidates) {
    auto r = std::make_shared<Request>(ex_, drv, height, next_seq_++, std::move(candidates));
    queue_.insert(r);
    by_drv_.emplace(drv, r);
    dispatch();
    try {
        co_await r->ready.wait();
    } catch (...) {
        // Cancelled: leave the queue, or give back the slot handed to us meanwhile.
        if (r->granted)
            release(*r->granted);
        else
            remove(r);
        throw;
    }
    if (r->failed) {
        std::string names;
        for (auto m : r->candidates)
            names += (names.empty() ? "'" : ", '") + machines_[m].spec.name + "'";
        throw BuildError("no machine can build it any more: {} failed {} times in a row", names,
                         backoff_.max_failures);
    }
    co_return Slot(this, *r->granted);
}

void MachineSlots::remove(const std::shared_ptr<Request>& r) {
    queue_.erase(r);
    auto [first, last] = by_drv_.equal_range(r->drv);
    for (auto it = first; it != last; ++it)
        if (it->second == r) {
            by_drv_.erase(it);
            break;
        }
    if (queue_.empty() && timer_at_) {
        timer_.cancel();
        timer_at_.reset();
    }
}

void MachineSlots::raise_height(const StorePath& drv, unsigned height) {
    auto [first, last] = by_drv_.equal_range(drv);
    for (auto it = first; it != last; ++it) {
        auto r = it->second;
        if (r->height >= height) continue;
        queue_.erase(r);
        r->height = height;
        queue_.insert(r);
    }
}

void MachineSlots::release(size_t m) noexcept {
    --machines_[m].running;
    dispatch();
}

unsigned MachineSlots::capacity(size_t m) const {
    const auto& s = machines_[m];
    return s.probing ? std::min(1u, s.spec.jobs) : s.spec.jobs;
}

bool MachineSlots::usable(size_t m) const {
    const auto& s = machines_[m];
    return !s.dead && Clock::now() >= s.down_until;
}

std::optional<size_t> MachineSlots::choose(const Request& r) const {
    std::optional<size_t> best;
    double best_load = 0;
    for (auto m : r.candidates) {
        const auto& s = machines_[m];
        if (s.running >= capacity(m) || !usable(m)) continue;
        double load = s.running / s.spec.speed;
        if (!best || load < best_load || (load == best_load && m < *best)) {
            best = m;
            best_load = load;
        }
    }
    return best;
}

bool MachineSlots::hopeless(const Request& r) const {
    return std::all_of(r.candidates.begin(), r.candidates.end(), [&](size_t m) { return machines_[m].dead; });
}

void MachineSlots::dispatch() {
    // Once no machine has a free slot, only a request whose machines are all out of use can still be
    // settled: without one, the rest of the queue need not be looked at.
    auto any_free = [this] {
        for (size_t m = 0; m < machines_.size(); ++m)
            if (machines_[m].dead || (machines_[m].running < capacity(m) && usable(m))) return true;
        return false;
    };
    for (auto it = queue_.begin(); it != queue_.end();) {
        if (!any_free()) break;
        auto r = *it;
        if (hopeless(*r)) {
            r->failed = true;
        } else if (auto m = choose(*r)) {
            auto& s = machines_[*m];
            ++s.running;
            s.peak = std::max(s.peak, s.running);
            r->granted = m;
        } else {
            ++it;
            continue;
        }
        ++it;
        remove(r);
        r->ready.set();
    }
    arm_timer();
}

void MachineSlots::arm_timer() {
    // The earliest end of a back-off that some waiting request could use.
    std::optional<Clock::time_point> earliest;
    auto now = Clock::now();
    for (const auto& s : machines_)
        if (!s.dead && s.down_until > now && (!earliest || s.down_until < *earliest)) earliest = s.down_until;
    if (queue_.empty() || !earliest) return;
    if (timer_at_ && *timer_at_ <= *earliest) return;
    timer_at_ = earliest;
    timer_.expires_at(*earliest);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return; // cancelled (or destroyed): `this` may be gone
        timer_at_.reset();
        dispatch();
    });
}

std::optional<std::chrono::milliseconds> MachineSlots::mark_down(size_t m, bool& given_up) {
    auto& s = machines_[m];
    given_up = false;
    auto now = Clock::now();
    if (s.dead || s.down_until > now) return std::nullopt;
    ++s.failures;
    if (s.failures >= backoff_.max_failures) {
        s.dead = true;
        given_up = true;
        dispatch(); // waiters with no other candidate fail now
        return std::nullopt;
    }
    auto wait = backoff_.initial;
    for (unsigned i = 1; i < s.failures && wait < backoff_.max; ++i)
        wait *= 2;
    wait = std::min(wait, backoff_.max);
    s.down_until = now + wait;
    s.probing = true;
    arm_timer();
    return wait;
}

void MachineSlots::mark_up(size_t m) {
    machines_[m].failures = 0;
    mark_answering(m);
}

void MachineSlots::mark_answering(size_t m) {
    if (!machines_[m].probing) return;
    machines_[m].probing = false;
    dispatch(); // its other slots are free for waiting builds
}

} // namespace ferry
