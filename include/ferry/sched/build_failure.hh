#pragma once
/// The kinds of failed build that Nix's exit status tells apart (Nix 2.8's Worker::exitStatus), the
/// errors that carry them, and their combination into that status.

#include <exception>

#include "ferry/sched/builder.hh"

namespace ferry {

/// A build killed because it exceeded `max-silent-time` or `timeout` (thrown by the builders).
class BuildTimedOut : public BuildError {
public:
    using BuildError::BuildError;
};

/// A build killed because its log exceeded `max-build-log-size` (Nix's LogLimitExceeded: no bit of the
/// exit status of its own).
class LogLimitExceeded : public BuildError {
public:
    using BuildError::BuildError;
};

/// The output of a fixed-output derivation does not have the hash the derivation declares.
class OutputHashMismatch : public BuildError {
public:
    using BuildError::BuildError;
};

/// What went wrong in the builds of one realisation. Used on the worker's thread.
struct BuildFailures {
    bool failed = false;            ///< a builder failed or could not be started (Nix: PermanentFailure)
    bool timed_out = false;         ///< max-silent-time or timeout
    bool hash_mismatch = false;     ///< a fixed-output derivation's hash
    bool not_deterministic = false; ///< `--check` found a differing output

    /// Records the failed build of a derivation: `error` rose from its builder (`from_builder`) or from
    /// checking what the builder made. As in Nix, a failing builder of a fixed-output derivation is a
    /// transient failure (a download may work next time), and an output that is missing is no kind.
    void record(const std::exception& error, bool from_builder, bool fixed_output);

    /// Nix's exit status: 0x60 with a bit for each kind seen, so 100 for a failed build, 101 a timeout,
    /// 102 a hash mismatch, 104 not deterministic, and the bits OR-ed when several happened (a timeout
    /// or hash mismatch sets the failed-build bit too: a failure and a timeout give 101, a timeout and a
    /// hash mismatch 103). 1 when none of these happened.
    int exit_status() const;
};

} // namespace ferry
