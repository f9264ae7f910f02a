#pragma once
/// The Linux namespace sandbox: runs a derivation's builder as PID 1 of new user, mount, PID, network,
/// UTS and IPC namespaces, in a root that shows it exactly what Nix 2.8's sandbox shows (see
/// mount_plan.hh, etc_files.hh, child_setup.hh). The sandbox never writes to the store: outputs are made
/// in the sandbox's own store dir inside scratch space, and the caller moves them (or, for `--check`,
/// compares their hashes with the valid paths).

#include <chrono>
#include <filesystem>
#include <memory>

#include "ferry/sandbox/build_user.hh"
#include "ferry/sandbox/mount_plan.hh"
#include "ferry/sandbox/sandbox_options.hh"
#include "ferry/sched/builder.hh"
#include "ferry/store/staged_path.hh"

namespace ferry {

struct PreparedSandbox;

/// The outputs of a sandboxed build, still in the sandbox's root (a staging directory of the store),
/// which this object owns: destroying it deletes what is left of the root. As root, it also holds the
/// build's host ids until then, so no other build gets them while the outputs are still theirs.
class SandboxBuiltOutputs final : public BuiltOutputs {
public:
    SandboxBuiltOutputs(StagedPath root, std::chrono::nanoseconds setup_time,
                        std::shared_ptr<BuildIds> ids = nullptr)
        : staging_(std::move(root)), root_(staging_.path()), setup_time_(setup_time), ids_(std::move(ids)) {}

    /// The sandbox's root on the host; outputs are under `<root>/<store dir>/`.
    const std::filesystem::path& sandbox_root() const { return root_; }
    /// From clone() to the exec of the builder, as the child measured it.
    std::chrono::nanoseconds setup_time() const { return setup_time_; }
    /// The host ids the build ran under; null when they were the caller's own.
    const BuildIds* ids() const { return ids_.get(); }

private:
    StagedPath staging_;
    std::filesystem::path root_;
    std::chrono::nanoseconds setup_time_;
    std::shared_ptr<BuildIds> ids_;
};

/// Builds in the sandbox. Stateless apart from its options and the host facts probed at construction,
/// so one object serves any number of concurrent builds on one io_context thread.
class SandboxBuilder final : public Builder {
public:
    explicit SandboxBuilder(SandboxOptions options = {});

    /// Runs `job` to completion and returns a SandboxBuiltOutputs. Throws BuildError: "builder for '…'
    /// failed with exit code N", BuildTimedOut ("building '…' timed out after N seconds [of silence]"),
    /// SandboxSetupError (which set-up step failed, on which path, why). With job.keep_failed, a failed
    /// build's directory is kept and named in the message. Terminal cancellation of the awaiting
    /// coroutine kills the build (every process of its namespace), deletes its scratch space and
    /// rethrows operation_aborted.
    boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob& job) override;
    std::string_view name() const override { return "sandbox"; }

    const SandboxOptions& options() const { return options_; }

private:
    /// prepare_sandbox(), with its errors turned into BuildErrors naming the derivation.
    std::unique_ptr<PreparedSandbox> prepare(const BuildJob& job, const std::string& drv,
                                             std::shared_ptr<BuildIds> ids) const;

    SandboxOptions options_;
    HostFacts host_;
};

} // namespace ferry
