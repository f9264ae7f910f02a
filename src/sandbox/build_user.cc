#include "ferry/sandbox/build_user.hh"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace ferry {

namespace {

void check_range(const BuildUserOptions& options) {
    if (options.start_id == 0 || options.start_id % kIdsPerBuildSlot != 0 ||
        options.id_count % kIdsPerBuildSlot != 0 || options.id_count == 0 ||
        uint64_t(options.start_id) + options.id_count > std::numeric_limits<uint32_t>::max())
        throw SandboxError("'start-id' ({}) and 'id-count' ({}) must be non-zero multiples of {} within the "
                           "32-bit id space",
                           options.start_id, options.id_count, kIdsPerBuildSlot);
}

/// The lock files are per store; two stores used at once by root would hand out the same ids. A listening
/// abstract unix socket named after the uid claims it for the whole machine (its network namespace) and
/// goes with the process. A name held by a root process (or one of ours) means the uid is busy; one held
/// by anybody else is a squatter, which must not be able to stop builds: the claim is then given up on (the
/// lock file and the process check remain). std::nullopt: busy. (A squatter that fills its queue still looks
/// busy: its owner cannot be asked then.)
std::optional<UniqueFd> claim_machine_wide(uid_t uid) {
    auto name = "ferry-build-uid-" + std::to_string(uid);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size()); // sun_path[0] = 0: abstract
    auto len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SysError("creating a socket to claim uid " + std::to_string(uid));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) {
        check_sys(::listen(fd.get(), 1), "listening on the claim of uid " + std::to_string(uid));
        return fd;
    }
    if (errno != EADDRINUSE) throw SysError("claiming uid " + std::to_string(uid));
    // Non-blocking: a claim never accepts, so its queue fills up with probes (EAGAIN: busy as well).
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) throw SysError("creating a socket to probe the claim of uid " + std::to_string(uid));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
        return errno == EAGAIN ? std::nullopt : std::optional(UniqueFd());
    ucred peer{};
    socklen_t peer_len = sizeof peer;
    if (::getsockopt(probe.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0 &&
        (peer.uid == 0 || peer.uid == ::geteuid()))
        return std::nullopt;
    return UniqueFd();
}

const group& build_group(const std::string& name) {
    const group* gr = name.empty() ? nullptr : ::getgrnam(name.c_str());
    if (!gr) throw SandboxError("the group '{}' specified in 'build-users-group' does not exist", name);
    return *gr;
}

/// Without a user namespace the builder needs a group shared by the build users, which owns the store
/// directory: `build-users-group` as in Nix, or, where that group does not exist (a fresh machine), the
/// last id of the range, which no slot uses as its first.
gid_t shared_gid(const BuildUserOptions& options) {
    const group* gr = options.group.empty() ? nullptr : ::getgrnam(options.group.c_str());
    return gr ? gr->gr_gid : gid_t(options.start_id + options.id_count - 1);
}

std::shared_ptr<BuildIds> try_auto(const BuildUserOptions& options, const fs::path& state_dir,
                                   bool user_namespace) {
    check_range(options);
    gid_t gid = user_namespace ? 0 : shared_gid(options);
    auto pool = state_dir / "userpool2";
    make_directories(pool, "the build user lock directory");
    for (uint32_t slot = 0; slot < options.id_count / kIdsPerBuildSlot; ++slot) {
        uid_t uid = options.start_id + slot * kIdsPerBuildSlot;
        auto lock = PathLock::try_acquire(pool / ("slot-" + std::to_string(slot)));
        if (!lock) continue;
        if (const passwd* pw = ::getpwuid(uid))
            throw SandboxError("auto-allocated uid {} clashes with the user account '{}'; choose another "
                               "'start-id'",
                               uid, pw->pw_name);
        if (uid_has_processes(uid)) continue;
        auto claim = claim_machine_wide(uid);
        if (!claim) continue;
        return std::make_shared<BuildIds>(uid, user_namespace ? gid_t(uid) : gid,
                                          "auto-allocated uid " + std::to_string(uid), std::move(*lock),
                                          std::move(*claim));
    }
    return nullptr;
}

std::shared_ptr<BuildIds> try_group(const BuildUserOptions& options, const fs::path& state_dir) {
    const group& gr = build_group(options.group);
    gid_t gid = gr.gr_gid;
    std::vector<std::string> members;
    for (char** m = gr.gr_mem; m && *m; ++m)
        members.emplace_back(*m);
    if (members.empty()) throw SandboxError("the build users group '{}' has no members", options.group);
    auto pool = state_dir / "userpool";
    make_directories(pool, "the build user lock directory");
    for (const auto& name : members) {
        const passwd* pw = ::getpwnam(name.c_str());
        if (!pw) throw SandboxError("the user '{}' in the group '{}' does not exist", name, options.group);
        uid_t uid = pw->pw_uid;
        if (uid == 0 || uid == ::getuid() || uid == ::geteuid())
            throw SandboxError("ferry's own user (and root) must not be a member of '{}'", options.group);
        auto lock = PathLock::try_acquire(pool / std::to_string(uid));
        if (!lock || uid_has_processes(uid)) continue;
        auto claim = claim_machine_wide(uid);
        if (!claim) continue;
        return std::make_shared<BuildIds>(uid, gid, fmt::format("build user '{}' (uid {})", name, uid),
                                          std::move(*lock), std::move(*claim));
    }
    return nullptr;
}

/// The uids on a "Uid:" line of /proc/PID/status: real, effective, saved, file system.
bool status_has_uid(const std::string& status, uid_t uid) {
    auto pos = status.find("\nUid:");
    if (pos == std::string::npos) return false;
    auto end = status.find('\n', pos + 1);
    auto line = status.substr(pos + 5, end - pos - 5);
    size_t i = 0;
    while (i < line.size()) {
        i = line.find_first_of("0123456789", i);
        if (i == std::string::npos) break;
        size_t used = 0;
        unsigned long value = std::stoul(line.substr(i), &used);
        if (value == uid) return true;
        i += used;
    }
    return false;
}

} // namespace

BuildUserOptions BuildUserOptions::from_settings(const Settings& settings) {
    BuildUserOptions options;
    options.auto_allocate = settings.auto_allocate_uids;
    options.group = settings.build_users_group;
    options.start_id = settings.start_id;
    options.id_count = settings.id_count;
    return options;
}

std::shared_ptr<BuildIds> try_acquire_build_ids(const BuildUserOptions& options, const fs::path& state_dir,
                                                bool user_namespace) {
    if (options.auto_allocate) return try_auto(options, state_dir, user_namespace);
    return try_group(options, state_dir);
}

asio::awaitable<std::shared_ptr<BuildIds>> acquire_build_ids(const BuildUserOptions& options,
                                                             fs::path state_dir, bool user_namespace,
                                                             std::function<void(std::string_view)> waiting) {
    bool told = false;
    for (;;) {
        if (auto ids = try_acquire_build_ids(options, state_dir, user_namespace)) co_return ids;
        if (!told && waiting)
            waiting(options.auto_allocate ? "waiting for a free auto-allocated build uid"
                                          : "waiting for a free build user in group '" + options.group + "'");
        told = true;
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<std::shared_ptr<BuildIds>>
acquire_job_ids(const BuildJob& job, const BuildUserOptions& options, bool user_namespace) {
    auto context = "while choosing the host ids to build '" + job.store_dir.print(job.drv_path) + "'";
    try {
        co_return co_await acquire_build_ids(options, build_state_dir(job), user_namespace, nullptr);
    } catch (SandboxError& e) {
        e.add_context(context);
        throw;
    } catch (const Error& e) {
        throw SandboxError("{}: {}", context, e.what());
    }
}

fs::path build_state_dir(const BuildJob& job) {
    auto real = job.real_store_dir.string();
    const auto& logical = job.store_dir.dir();
    if (real.size() < logical.size() ||
        real.compare(real.size() - logical.size(), logical.size(), logical) != 0)
        throw SandboxError("the store directory '{}' is not at '{}' under a root", real, logical);
    return fs::path(real.substr(0, real.size() - logical.size()) + "/nix/var/ferry");
}

bool uid_has_processes(uid_t uid) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string status;
        try {
            status = read_file(entry.path() / "status");
        } catch (const Error&) {
            continue; // gone meanwhile
        }
        // A zombie can do nothing more; its parent reaps it.
        if (status.find("\nState:\tZ") != std::string::npos) continue;
        if (status_has_uid("\n" + status, uid)) return true;
    }
    return false;
}

namespace {

/// One mass kill by a helper that takes `uid`: kill(-1) then reaches exactly the processes of that uid
/// (it succeeds whenever any other process exists, so its result says nothing).
bool kill_once_as(uid_t uid) noexcept {
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        // Only system calls here: the parent may have threads.
        if (::syscall(SYS_setuid, uid) != 0) ::_exit(1);
        ::kill(-1, SIGKILL);
        ::_exit(0);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace

bool kill_uid_processes(uid_t uid) noexcept {
    if (uid == 0) return false;
    try {
        // Again while some are left (they may have been forking), for about a second at most.
        for (int round = 0; round < 100; ++round) {
            if (!uid_has_processes(uid)) return true;
            if (!kill_once_as(uid)) return false;
            if (!uid_has_processes(uid)) return true;
            ::usleep(10000);
        }
    } catch (...) {
    }
    return false;
}

void chown_tree(const fs::path& path, uid_t uid, gid_t gid) {
    if (::lchown(path.c_str(), uid, gid) != 0)
        throw SysError("changing the owner of '" + path.string() + "'");
    if (!fs::is_directory(fs::symlink_status(path))) return;
    for (const auto& entry : fs::directory_iterator(path))
        chown_tree(entry.path(), uid, gid);
}

} // namespace ferry
