// The child after clone(): only direct system calls. glibc's setuid/setgid are avoided (they signal every
// thread glibc believes exists, which after a raw clone are the parent's); raw syscalls act on the one
// thread the child has.
#include "ferry/sandbox/child_setup.hh"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ferry/sandbox/etc_files.hh"

namespace ferry {

namespace {

constexpr int kSetupFailedExit = 1;

int64_t monotonic_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void report(const ChildProgram& program, ChildReport::Kind kind, ChildStep step, int index,
            int errnum) noexcept {
    ChildReport r;
    r.kind = kind;
    r.step = step;
    r.op_index = index;
    r.errnum = errnum;
    r.monotonic_ns = monotonic_ns();
    // A short write to a pipe of a record this small cannot happen; a failed one leaves the parent with
    // the exit status alone.
    ssize_t n = ::write(program.status_fd, &r, sizeof r);
    (void)n;
}

[[noreturn]] void fail(const ChildProgram& program, ChildStep step, int index = -1) noexcept {
    report(program, ChildReport::failed, step, index, errno);
    ::_exit(kSetupFailedExit);
}

bool write_proc_file(const char* path, const std::string& data) noexcept {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = ::write(fd, data.data(), data.size());
    int saved = errno;
    ::close(fd);
    errno = saved;
    return n == ssize_t(data.size());
}

void reset_signals(const ChildProgram& program) noexcept {
    sigset_t none;
    sigemptyset(&none);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0 || ::sigaction(SIGPIPE, &dfl, nullptr) != 0)
        fail(program, ChildStep::signals);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(program, ChildStep::death_signal);
}

void map_user(const ChildProgram& program, int id_map_fd) noexcept {
    if (!program.user_namespace) return;
    if (id_map_fd >= 0) {
        char byte = 0;
        ssize_t n;
        do {
            n = ::read(id_map_fd, &byte, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 1) return;
        if (n == 0) errno = EPIPE;
        fail(program, ChildStep::uid_map);
    }
    if (!write_proc_file("/proc/self/uid_map", program.uid_map)) fail(program, ChildStep::uid_map);
    if (!write_proc_file("/proc/self/setgroups", "deny")) fail(program, ChildStep::setgroups);
    if (!write_proc_file("/proc/self/gid_map", program.gid_map)) fail(program, ChildStep::gid_map);
}

void set_names(const ChildProgram& program) noexcept {
    if (!program.uts_namespace) return;
    // The sizes include the terminating NUL, as Nix passes them.
    static const char hostname[] = "localhost";
    static const char domainname[] = "(none)";
    if (::sethostname(hostname, sizeof hostname) != 0) fail(program, ChildStep::hostname);
    if (::setdomainname(domainname, sizeof domainname) != 0) fail(program, ChildStep::domainname);
}

void bring_up_loopback(const ChildProgram& program) noexcept {
    if (!program.private_network) return;
    int fd = ::socket(PF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_IP);
    if (fd < 0) fail(program, ChildStep::loopback);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) fail(program, ChildStep::loopback);
    ::close(fd);
}

/// A read-only remount must keep the flags the kernel locked on the mount it copies (noexec, nosuid,
/// nodev) or an unprivileged remount fails with EPERM.
unsigned long locked_flags(const char* target) {
    struct statfs st {};
    if (::statfs(target, &st) != 0) return 0;
    unsigned long extra = 0;
    if (st.f_flags & ST_NOEXEC) extra |= MS_NOEXEC;
    return extra;
}

bool pivot_into(const char* root) noexcept {
    // pivot_root(".", ".") stacks the old root on the new one; detaching "." then removes it.
    return ::chdir(root) == 0 && ::syscall(SYS_pivot_root, ".", ".") == 0 &&
           ::umount2(".", MNT_DETACH) == 0 && ::chdir("/") == 0;
}

bool carry_out(const MountOp& op) noexcept {
    const char* target = op.target.c_str();
    switch (op.kind) {
    case MountOp::Kind::make_private:
        return ::mount(nullptr, target, nullptr, op.flags, nullptr) == 0;
    case MountOp::Kind::remount_read_only:
        return ::mount(nullptr, target, nullptr, op.flags | locked_flags(target), nullptr) == 0;
    case MountOp::Kind::bind:
        return ::mount(op.source.c_str(), target, nullptr, op.flags, nullptr) == 0;
    case MountOp::Kind::mount_fs:
        return ::mount("none", target, op.source.c_str(), op.flags,
                       op.data.empty() ? nullptr : op.data.c_str()) == 0;
    case MountOp::Kind::chmod:
        return ::chmod(target, mode_t(op.flags)) == 0;
    case MountOp::Kind::pivot_root:
        return pivot_into(target);
    }
    errno = EINVAL;
    return false;
}

void enter_root(const ChildProgram& program) noexcept {
    for (size_t i = 0; i < program.mounts.size(); ++i)
        if (!carry_out(program.mounts[i]) && !(program.mounts[i].optional && errno == ENOENT))
            fail(program, ChildStep::mount, int(i));
    if (::chdir(program.cwd.c_str()) != 0) fail(program, ChildStep::chdir);
    if (!program.switch_user) return;
    // Groups first: once the uid is unprivileged, nothing else can be changed.
    if (program.clear_groups && ::syscall(SYS_setgroups, 0, nullptr) != 0)
        fail(program, ChildStep::drop_groups);
    if (::syscall(SYS_setgid, program.gid) != 0) fail(program, ChildStep::setgid);
    if (::syscall(SYS_setuid, program.uid) != 0) fail(program, ChildStep::setuid);
    // A change of credentials clears the parent-death signal: set it again, or a builder would outlive
    // a ferry killed with SIGKILL.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(program, ChildStep::death_signal);
}

void set_stdio(const ChildProgram& program) noexcept {
    if (::setsid() == -1) fail(program, ChildStep::setsid);
    int null = ::open("/dev/null", O_RDWR);
    if (null < 0) fail(program, ChildStep::stdio);
    if (::dup2(program.log_fd, STDERR_FILENO) == -1 || ::dup2(STDERR_FILENO, STDOUT_FILENO) == -1 ||
        ::dup2(null, STDIN_FILENO) == -1)
        fail(program, ChildStep::stdio);
    if (null > STDERR_FILENO) ::close(null);
}

void set_process_attributes(const ChildProgram& program) noexcept {
    if (program.linux32 && ::personality(PER_LINUX32) == -1) fail(program, ChildStep::personality);
    int current = ::personality(0xffffffff);
    if (current != -1) {
        // Nix: ASLR off for determinism; UNAME26 when impersonating Linux 2.6.
        unsigned long wanted = unsigned(current) | ADDR_NO_RANDOMIZE | (program.uname26 ? UNAME26 : 0);
        if (::personality(wanted) == -1) fail(program, ChildStep::personality);
    }
    rlimit core{0, RLIM_INFINITY};
    ::setrlimit(RLIMIT_CORE, &core); // best effort, as in Nix
    rlimit nproc{program.max_processes, program.max_processes};
    if (program.max_processes && ::setrlimit(RLIMIT_NPROC, &nproc) != 0)
        fail(program, ChildStep::process_limit);
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(program, ChildStep::close_fds);
}

void restrict_syscalls(const ChildProgram& program) noexcept {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(program, ChildStep::no_new_privs);
    if (program.seccomp && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program.seccomp) != 0)
        fail(program, ChildStep::seccomp);
}

} // namespace

uint64_t build_process_limit() {
    uint64_t pid_max = 32768;
    if (FILE* f = std::fopen("/proc/sys/kernel/pid_max", "r")) {
        unsigned long long n = 0;
        if (std::fscanf(f, "%llu", &n) == 1 && n > 0) pid_max = n;
        std::fclose(f);
    }
    return std::clamp<uint64_t>(pid_max / 8, 1024, 65536);
}

void ChildProgram::finalize() {
    argv.clear();
    envp.clear();
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
}

void run_child(const ChildProgram& program, int id_map_fd) noexcept {
    reset_signals(program);
    map_user(program, id_map_fd);
    set_names(program);
    bring_up_loopback(program);
    enter_root(program);
    set_stdio(program);
    set_process_attributes(program);
    restrict_syscalls(program);
    report(program, ChildReport::exec_ready, ChildStep::exec, -1, 0);
    ::execve(program.builder.c_str(), program.argv.data(), program.envp.data());
    fail(program, ChildStep::exec);
}

std::string describe_child_step(const ChildReport& report, const ChildProgram& program) {
    switch (report.step) {
    case ChildStep::signals:
        return "resetting the signal mask";
    case ChildStep::death_signal:
        return "setting the parent-death signal";
    case ChildStep::uid_map:
        return "mapping the sandbox's uid ('/proc/self/uid_map')";
    case ChildStep::setgroups:
        return "writing '/proc/self/setgroups'";
    case ChildStep::gid_map:
        return "writing '/proc/self/gid_map'";
    case ChildStep::hostname:
        return "setting the host name";
    case ChildStep::domainname:
        return "setting the domain name";
    case ChildStep::loopback:
        return "bringing up the loopback interface 'lo'";
    case ChildStep::mount:
        if (report.op_index >= 0 && size_t(report.op_index) < program.mounts.size())
            return program.mounts[size_t(report.op_index)].describe();
        return "mounting";
    case ChildStep::chdir:
        return "changing into '" + program.cwd + "'";
    case ChildStep::drop_groups:
        return "dropping the supplementary groups";
    case ChildStep::setgid:
        return "switching to gid " + std::to_string(program.gid);
    case ChildStep::setuid:
        return "switching to uid " + std::to_string(program.uid);
    case ChildStep::setsid:
        return "creating a new session";
    case ChildStep::stdio:
        return "redirecting standard input and output";
    case ChildStep::personality:
        return "setting the personality";
    case ChildStep::process_limit:
        return "limiting the build to " + std::to_string(program.max_processes) + " processes";
    case ChildStep::close_fds:
        return "marking file descriptors close-on-exec";
    case ChildStep::no_new_privs:
        return "setting no_new_privs";
    case ChildStep::seccomp:
        return "loading the seccomp filter";
    case ChildStep::exec:
        return "executing '" + program.builder + "'";
    }
    return "setting up the sandbox";
}

std::string child_step_path(const ChildReport& report, const ChildProgram& program) {
    switch (report.step) {
    case ChildStep::uid_map:
        return "/proc/self/uid_map";
    case ChildStep::setgroups:
        return "/proc/self/setgroups";
    case ChildStep::gid_map:
        return "/proc/self/gid_map";
    case ChildStep::mount:
        if (report.op_index >= 0 && size_t(report.op_index) < program.mounts.size())
            return program.mounts[size_t(report.op_index)].target;
        return "";
    case ChildStep::chdir:
        return program.cwd;
    case ChildStep::exec:
        return program.builder;
    default:
        return "";
    }
}

} // namespace ferry
