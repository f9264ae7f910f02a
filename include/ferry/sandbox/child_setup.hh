#pragma once
/// What the child does between clone() and exec() of the builder. Everything it needs is prepared by the
/// parent in a ChildProgram (strings, argv/envp arrays, the mount list, the seccomp program), so the child
/// only makes system calls: no allocation, no locks, no exceptions. It reports the first step that fails
/// as a ChildReport over a CLOEXEC pipe; a successful exec closes that pipe.

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/sandbox/etc_files.hh"
#include "ferry/sandbox/mount_plan.hh"

namespace ferry {

/// The steps of the child's set-up, as reported to the parent.
enum class ChildStep : int32_t {
    signals,
    death_signal,
    uid_map,
    setgroups,
    gid_map,
    hostname,
    domainname,
    loopback,
    mount,
    chdir,
    drop_groups,
    setgid,
    setuid,
    setsid,
    stdio,
    personality,
    process_limit,
    close_fds,
    no_new_privs,
    seccomp,
    exec,
};

/// A fixed-size record the child writes to the status pipe.
struct ChildReport {
    enum Kind : uint32_t { failed = 1, exec_ready = 2 };
    uint32_t kind = 0;
    ChildStep step = ChildStep::signals;
    int32_t op_index = -1; ///< for ChildStep::mount, the index in ChildProgram::mounts
    int32_t errnum = 0;
    int64_t monotonic_ns = 0; ///< CLOCK_MONOTONIC when written
};

/// Everything the child needs, prepared by the parent before clone(); the child reads its own copy.
/// Pointers in argv/envp point into args/env (call finalize() after the last change; don't copy it then).
struct ChildProgram {
    bool user_namespace = true;
    std::string uid_map; ///< "1000 <host uid> 1"
    std::string gid_map; ///< "100 <host gid> 1"
    bool private_network = true;
    /// In a new UTS namespace: set hostname "localhost" and domain name "(none)".
    bool uts_namespace = true;
    /// Become `uid` / `gid` before exec: in the sandbox 1000 / 100 (its nixbld, mapped to the build's
    /// host ids); the unsandboxed builder, as root, the build's host ids; otherwise it keeps the caller's.
    bool switch_user = true;
    uid_t uid = kSandboxUid;
    gid_t gid = kSandboxGid;
    /// Drop every supplementary group first (setgroups(0)); only with the privilege to do so.
    bool clear_groups = false;
    std::vector<MountOp> mounts;
    std::string cwd = "/build";
    int log_fd = -1;    ///< becomes stdout and stderr
    int status_fd = -1; ///< the write side of the status pipe (CLOEXEC)
    std::string builder;
    std::vector<std::string> args;       ///< argv, argv[0] included
    std::vector<std::string> env;        ///< "NAME=value"
    std::vector<char*> argv;             ///< null-terminated, into args
    std::vector<char*> envp;             ///< null-terminated, into env
    bool linux32 = false;                ///< PER_LINUX32 (i686 build on x86_64)
    bool uname26 = false;                ///< `impersonate-linux-26`
    const sock_fprog* seccomp = nullptr; ///< installed last, after NO_NEW_PRIVS; null: none
    /// RLIMIT_NPROC of the builder (0: unchanged), set when the build has ids of its own (a user
    /// namespace, whose processes the kernel counts apart, or a build user), so that a fork bomb fails
    /// its build and leaves the host's process table alone.
    uint64_t max_processes = 0;

    /// Fills argv and envp from args and env.
    void finalize();
};

/// How many processes one build may have at once: an eighth of the host's pid_max, at least 1024 and at
/// most 65536 (4096 with the kernel's default pid_max of 32768). Nix sets no limit.
uint64_t build_process_limit();

/// Runs in the cloned child: sets up the sandbox and execs the builder; never returns. With a user
/// namespace and `id_map_fd` (the read side of a pipe), the parent writes the child's uid and gid maps
/// (as root, only a process outside the namespace may map other ids than its creator's) and then one
/// byte, which the child waits for; with -1 the child maps its creator's ids itself.
[[noreturn]] void run_child(const ChildProgram& program, int id_map_fd = -1) noexcept;

/// "bind-mounting '/a' on '/b'", "writing /proc/self/uid_map", "executing '/nix/store/…/bin/sh'".
std::string describe_child_step(const ChildReport& report, const ChildProgram& program);
/// The path the failed step worked on, "" when none.
std::string child_step_path(const ChildReport& report, const ChildProgram& program);

} // namespace ferry
