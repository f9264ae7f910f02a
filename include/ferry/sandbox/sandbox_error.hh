#pragma once
/// Errors of the sandbox module. All are BuildErrors, so the scheduler treats a sandbox that could not be
/// set up as a failed build of that derivation.

#include <string>

#include "ferry/sched/build_failure.hh" // BuildTimedOut
#include "ferry/sched/builder.hh"

namespace ferry {

/// The sandbox could not be prepared or entered (bad `sandbox-paths`, namespaces unavailable, …).
class SandboxError : public BuildError {
public:
    using BuildError::BuildError;
};

/// A step of the child's set-up failed (a mount, the uid map, pivot_root, exec of the builder). The
/// message names the step, its path and the errno text.
class SandboxSetupError : public SandboxError {
public:
    SandboxSetupError(std::string message, std::string step, std::string path, int errnum)
        : SandboxError(std::move(message)), step_(std::move(step)), path_(std::move(path)), errnum_(errnum) {}
    /// "bind-mounting", "writing uid_map", "executing", …
    const std::string& step() const noexcept { return step_; }
    /// The path the step worked on ("" when none).
    const std::string& path() const noexcept { return path_; }
    int errnum() const noexcept { return errnum_; }

private:
    std::string step_;
    std::string path_;
    int errnum_;
};

} // namespace ferry
