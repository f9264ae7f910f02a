#pragma once
/// The unprivileged host ids a build runs under when ferry runs as root, so that no builder is ever host
/// root (Nix's build users). Two sources, as in Nix:
/// - auto-allocated ids (`auto-allocate-uids`, the default here): slot N of the range `start-id`,
///   `id-count` (65536 ids a slot) gives the build uid `start-id + N * 65536`, locked through
///   `<state dir>/userpool2/slot-N`; in a user namespace its gid is the same number, without one (the
///   unsandboxed builder) the gid of `build-users-group`;
/// - a free member of `build-users-group` (when `auto-allocate-uids = false`), locked through
///   `<state dir>/userpool/<uid>`, with the group's gid.
/// A lock is held for the whole build and until its outputs are registered; ids that a running process
/// already uses (a process left behind) are skipped. The lock files are the store's, so an id is also
/// claimed for the whole machine, through a listening abstract unix socket `@ferry-build-uid-<uid>`
/// that goes with the process: two stores used at once never hand out the same id. Without a user
/// namespace (the unsandboxed builder), auto-allocated uids share the gid of `build-users-group`, or
/// where that group does not exist, the last id of the range. An unprivileged ferry keeps its own ids:
/// it has no others.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/store/path_lock.hh"
#include "ferry/util/settings.hh"

namespace ferry {

/// Ids a build may use; Nix's maxIdsPerBuild.
inline constexpr uint32_t kIdsPerBuildSlot = 65536;

/// Where builds get their host ids from (Nix's option names).
struct BuildUserOptions {
    bool auto_allocate = true;     ///< `auto-allocate-uids`
    std::string group = "nixbld";  ///< `build-users-group`
    uint32_t start_id = 872415232; ///< `start-id`
    uint32_t id_count = 8388608;   ///< `id-count`

    static BuildUserOptions from_settings(const Settings& settings);
};

/// The host uid and gid one build holds, with the lock that reserves them; released on destruction.
/// Shared between the builder and the outputs it returns (which must not be touched by another build
/// with the same ids before they are registered). Immutable; any thread.
class BuildIds {
public:
    BuildIds(uid_t uid, gid_t gid, std::string description, PathLock lock, UniqueFd claim = {})
        : uid_(uid), gid_(gid), description_(std::move(description)), lock_(std::move(lock)),
          claim_(std::move(claim)) {}

    uid_t uid() const { return uid_; }
    gid_t gid() const { return gid_; }
    /// "auto-allocated uid 872415232", "build user 'nixbld1' (uid 30001)".
    const std::string& description() const { return description_; }

private:
    uid_t uid_;
    gid_t gid_;
    std::string description_;
    PathLock lock_;
    UniqueFd claim_; ///< the machine-wide claim (see try_acquire_build_ids)
};

/// Tries to reserve ids for one build: null when every candidate is busy. `user_namespace`: the build
/// maps its ids in a user namespace (the sandbox); without one the gid is `build-users-group`'s. Throws
/// SandboxError for a configuration that cannot work (a bad range, a missing or empty group, an id
/// that is ferry's own or clashes with an account) and SysError when the lock files cannot be made.
std::shared_ptr<BuildIds> try_acquire_build_ids(const BuildUserOptions& options,
                                                const std::filesystem::path& state_dir, bool user_namespace);

/// try_acquire_build_ids() until it succeeds, polling every 100 ms without blocking the loop (as Nix
/// waits for a free build user); `waiting` is called once when it has to wait. Cancellable.
boost::asio::awaitable<std::shared_ptr<BuildIds>>
acquire_build_ids(const BuildUserOptions& options, std::filesystem::path state_dir, bool user_namespace,
                  std::function<void(std::string_view)> waiting);

/// acquire_build_ids() in the state directory of `job`'s store; a SandboxError names the derivation.
boost::asio::awaitable<std::shared_ptr<BuildIds>>
acquire_job_ids(const BuildJob& job, const BuildUserOptions& options, bool user_namespace);

/// The state directory (`<root>/nix/var/ferry`) of the store `job` builds for.
std::filesystem::path build_state_dir(const BuildJob& job);

/// Whether a live process (zombies aside) on this host has `uid` as its real, effective, saved or file-system
/// uid.
bool uid_has_processes(uid_t uid);

/// Kills every process running as `uid` (Nix's killUser): a helper process takes that uid and sends
/// SIGKILL to everything it may signal until nothing is left. For ids this process holds. Returns false
/// when that failed (the ids are then skipped by later builds while processes remain).
bool kill_uid_processes(uid_t uid) noexcept;

/// Changes the owner of `path` and, recursively, of everything below it (symlinks themselves).
void chown_tree(const std::filesystem::path& path, uid_t uid, gid_t gid);

} // namespace ferry
