#include "ferry/sched/build_failure.hh"

#include "ferry/sched/check_build.hh"

namespace ferry {

void BuildFailures::record(const std::exception& error, bool from_builder, bool fixed_output) {
    if (dynamic_cast<const BuildTimedOut*>(&error))
        timed_out = true;
    else if (dynamic_cast<const OutputHashMismatch*>(&error))
        hash_mismatch = true;
    else if (dynamic_cast<const NotDeterministic*>(&error))
        not_deterministic = true;
    else if (dynamic_cast<const LogLimitExceeded*>(&error))
        return; // Nix 2.8 counts it as none of the kinds
    else if (from_builder && !fixed_output)
        failed = true;
}

int BuildFailures::exit_status() const {
    // Nix 2.8's bits: 0x04 build failure, 0x01 timeout, 0x02 hash mismatch, 0x08 not deterministic.
    int mask = 0;
    if (failed || timed_out || hash_mismatch) mask |= 0x04;
    if (timed_out) mask |= 0x01;
    if (hash_mismatch) mask |= 0x02;
    if (not_deterministic) mask |= 0x08;
    return mask ? 0x60 | mask : 1;
}

} // namespace ferry
