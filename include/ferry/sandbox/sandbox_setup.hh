#pragma once
/// The parent's half of setting up one sandboxed build, before clone(): from the BuildJob, the spec and the
/// plan (pure), then the new root (a staging directory of job.scratch_parent, on the store's filesystem
/// and locked as the store's staging area expects, so a store opened meanwhile never cleans it away) and
/// the build directory (in $TMPDIR, as Nix's) on disk, and the ChildProgram the child will carry out.
/// Runs on the caller's thread; touches only its own directories.

#include <filesystem>

#include "ferry/sandbox/build_user.hh"
#include "ferry/sandbox/child_setup.hh"
#include "ferry/sandbox/mount_plan.hh"
#include "ferry/sandbox/sandbox_options.hh"
#include "ferry/sched/builder.hh"
#include "ferry/store/scratch_dir.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// Probes the host once: /dev/shm, /dev/pts/ptmx, and the /etc files fixed-output builds see.
HostFacts probe_host_facts();

/// Resolves `sandbox-paths` against the host: a source inside the logical store dir is read from the
/// real store dir; a missing optional source is dropped, a missing required one is a SandboxError.
std::vector<HostBind> resolve_sandbox_paths(const std::vector<SandboxPathEntry>& entries,
                                            const StoreDir& store_dir,
                                            const std::filesystem::path& real_store_dir);

/// Everything prepared for one build. Owns the root and the build directory (deleted on destruction;
/// the build directory survives when released for keep-failed); `program` points into itself and must
/// not be copied once finalized.
struct PreparedSandbox {
    StagedPath staging;              ///< holds the root at staging.path()
    ScratchDir build;                ///< the build directory on the host (claimed in staging)
    std::filesystem::path root;      ///< the new root, `<scratch_parent>/<staging dir>/out`
    std::filesystem::path build_dir; ///< build.path(), kept when the ScratchDir is released
    SandboxPlan plan;
    ChildProgram program;         ///< log_fd and status_fd still to be filled in
    unsigned long namespaces = 0; ///< CLONE_NEW* flags
    /// As root, the host ids the sandbox's 1000/100 map to; null: the caller's own.
    std::shared_ptr<BuildIds> ids;

    PreparedSandbox(StagedPath root_dir, ScratchDir build_dir)
        : staging(std::move(root_dir)), build(std::move(build_dir)), root(staging.path()),
          build_dir(build.path()) {}
    PreparedSandbox(const PreparedSandbox&) = delete;
};

/// The spec of `job`'s sandbox: its input closure minus its own outputs (so a `--check` rebuild never
/// sees the valid outputs), the network decision (fixed-output derivations keep the host's), the
/// resolved sandbox paths. Stats the inputs in the real store; throws SandboxError for a missing one.
SandboxSpec make_sandbox_spec(const BuildJob& job, const SandboxOptions& options, const HostFacts& host,
                              const std::filesystem::path& root, const std::filesystem::path& build_dir);

/// Prepares `job`: root in job.scratch_parent and build directory in options.build_dir_parent laid out, the
/// passAsFile files written, environment and arguments as Nix gives them. With `ids` (as root), the
/// sandbox's uid 1000 / gid 100 map to them, the build directory is theirs and the root and its store
/// directory are in their group (as Nix's chroot); without, to the caller's own ids. Throws
/// SandboxError/SysError naming the path.
std::unique_ptr<PreparedSandbox> prepare_sandbox(const BuildJob& job, const SandboxOptions& options,
                                                 const HostFacts& host,
                                                 std::shared_ptr<BuildIds> ids = nullptr);

/// Creates the plan's entries on disk with their exact modes.
void create_fs_entries(const std::vector<FsEntry>& entries);

} // namespace ferry
