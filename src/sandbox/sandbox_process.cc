#include "ferry/sandbox/sandbox_process.hh"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// The first version of the kernel's `struct clone_args` (CLONE_ARGS_SIZE_VER0 = 64 bytes); spelled out
/// here because <linux/sched.h> clashes with glibc's <sched.h>.
struct Clone3Args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
};
static_assert(sizeof(Clone3Args) == 64);

#ifndef CLONE_PIDFD
constexpr uint64_t CLONE_PIDFD = 0x00001000;
#endif

/// As root, Nix drops the supplementary groups before cloning the builder. Credentials are per thread
/// in the kernel, so a raw setgroups() on this thread alone does that for the clone without touching
/// the rest of the process; the groups are put back right after.
class ThreadGroupsDropped {
public:
    ThreadGroupsDropped() {
        if (::geteuid() != 0) return;
        int n = ::getgroups(0, nullptr);
        if (n <= 0) return;
        saved_.resize(size_t(n));
        n = ::getgroups(n, saved_.data());
        if (n < 0 || ::syscall(SYS_setgroups, 0, nullptr) != 0) return;
        saved_.resize(size_t(n));
        active_ = true;
    }
    /// Called in the parent only (the child must not restore anything).
    void restore() noexcept {
        if (active_) ::syscall(SYS_setgroups, saved_.size(), saved_.data());
        active_ = false;
    }

private:
    std::vector<gid_t> saved_;
    bool active_ = false;
};

void write_proc_file(const std::string& path, std::string_view data) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw SysError("opening '" + path + "'");
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n != ssize_t(data.size())) throw SysError("writing '" + std::string(data) + "' to '" + path + "'");
}

/// From outside the child's user namespace: as root this may map the sandbox's ids to any host ids.
void write_id_maps(pid_t pid, const ChildProgram& program) {
    auto dir = "/proc/" + std::to_string(pid) + "/";
    write_proc_file(dir + "uid_map", program.uid_map);
    write_proc_file(dir + "setgroups", "deny");
    write_proc_file(dir + "gid_map", program.gid_map);
}

ExitStatus to_exit_status(const siginfo_t& info) {
    ExitStatus s;
    if (info.si_code == CLD_EXITED) {
        s.exited = true;
        s.code = info.si_status;
    } else {
        s.signal = info.si_status;
    }
    return s;
}

} // namespace

std::string ExitStatus::describe() const {
    if (exited) return code == 0 ? "succeeded" : "failed with exit code " + std::to_string(code);
    return "failed due to signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

pid_t clone_with_pidfd(unsigned long flags, UniqueFd& pidfd) {
    int fd = -1;
    Clone3Args args{};
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uintptr_t>(&fd);
    args.exit_signal = 0;
    ThreadGroupsDropped groups;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) return 0;
    int saved_errno = errno;
    groups.restore();
    if (pid < 0) throw SysError(saved_errno, "cloning the builder process into new namespaces");
    pidfd.reset(fd);
    return pid_t(pid);
}

SandboxProcess SandboxProcess::spawn(const asio::any_io_executor& executor, const ChildProgram& program,
                                     unsigned long namespaces) {
    UniqueFd sync_read, sync_write;
    bool map_ids = program.user_namespace && (namespaces & CLONE_NEWUSER);
    if (map_ids) {
        int fds[2];
        check_sys(::pipe2(fds, O_CLOEXEC), "creating the id map pipe");
        sync_read.reset(fds[0]);
        sync_write.reset(fds[1]);
    }
    UniqueFd pidfd;
    pid_t pid = clone_with_pidfd(namespaces, pidfd);
    if (pid == 0) run_child(program, map_ids ? sync_read.get() : -1);
    sync_read.reset();
    SandboxProcess process(executor, pid, std::move(pidfd));
    if (map_ids) {
        // On failure the process is killed and reaped by its destructor.
        write_id_maps(pid, program);
        write_full(sync_write.get(), "m", "the id map pipe");
    }
    return process;
}

SandboxProcess::SandboxProcess(const asio::any_io_executor& executor, pid_t pid, UniqueFd pidfd) : pid_(pid) {
    pidfd_.emplace(executor, pidfd.release());
}

SandboxProcess::~SandboxProcess() {
    if (status_ || !pidfd_ || !pidfd_->is_open()) return;
    kill();
    try {
        try_reap(true);
    } catch (...) {
        // Nothing more can be done from a destructor; the kernel reaps it when ferry exits.
    }
}

void SandboxProcess::kill() noexcept {
    if (status_ || !pidfd_ || !pidfd_->is_open()) return;
    ::syscall(SYS_pidfd_send_signal, pidfd_->native_handle(), SIGKILL, nullptr, 0);
}

std::optional<ExitStatus> SandboxProcess::try_reap(bool block) {
    siginfo_t info{};
    int options = WEXITED | __WALL | (block ? 0 : WNOHANG);
    for (;;) {
        if (::waitid(idtype_t(P_PIDFD), id_t(pidfd_->native_handle()), &info, options) == 0) break;
        if (errno != EINTR) throw SysError("waiting for builder process " + std::to_string(pid_));
    }
    if (info.si_pid == 0) return std::nullopt;
    status_ = to_exit_status(info);
    return status_;
}

asio::awaitable<ExitStatus> SandboxProcess::wait(bool cancellable) {
    while (!status_) {
        if (try_reap(false)) break;
        if (cancellable)
            co_await pidfd_->async_wait(asio::posix::descriptor_base::wait_read, asio::use_awaitable);
        else
            co_await pidfd_->async_wait(
                asio::posix::descriptor_base::wait_read,
                asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    }
    co_return *status_;
}

} // namespace ferry
