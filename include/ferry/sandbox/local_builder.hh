#pragma once
/// The unsandboxed builder (`sandbox = false`), as Nix's: the builder runs as the calling user with the
/// host's file system, network and processes, in a temporary build directory on the host
/// (NIX_BUILD_TOP is its real path), in its own session, its log through a pipe. Processes it leaves
/// behind are killed with its process group when it exits.
///
/// When the store's files are not at the logical store dir (a `--store DIR` root), the builder gets a
/// private mount namespace (and a user namespace mapping the caller to itself when not root) in which
/// the physical store dir is bind-mounted on the logical one, so `/nix/store/…` resolves for it and its
/// outputs land in the real store. Nothing else is isolated. Where the logical store dir does not exist
/// on the host, the builder sees a host view (host_view.hh) instead of the host's root; nothing is
/// created on the host for it.
///
/// As root the builder is never root: as Nix, it runs under a build user's ids (build_user.hh; an
/// auto-allocated uid in the gid of `build-users-group`, or a member of that group), dropped to with
/// setgroups/setgid/setuid before exec. The build directory is theirs; the store directory is made
/// group-writable for that group with the sticky bit (1775, as Nix's), so the builder can create its
/// outputs and nothing else of the store; after the build every process of that uid is killed.

#include <memory>

#include "ferry/sandbox/build_user.hh"
#include "ferry/sched/builder.hh"

namespace ferry {

class LocalBuilder final : public Builder {
public:
    explicit LocalBuilder(BuildUserOptions build_users = {}) : build_users_(std::move(build_users)) {}

    /// Runs `job`. Stale files of the (invalid) output paths are removed first, and removed again when
    /// the build fails. Throws BuildError as the sandbox does; cancellation kills the build.
    boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob& job) override;
    std::string_view name() const override { return "local"; }

private:
    BuildUserOptions build_users_;
};

} // namespace ferry
