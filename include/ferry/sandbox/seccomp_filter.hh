#pragma once
/// The system call filter of Nix's sandbox: chmod/fchmod/fchmodat setting S_ISUID or S_ISGID fail with
/// EPERM, setxattr/lsetxattr/fsetxattr with ENOTSUP (the store can't represent extended attributes or
/// ACLs), on the native, x86 and x32 ABIs. Compiled once with libseccomp into a BPF program that the
/// child installs with prctl() after NO_NEW_PRIVS, without allocating.

#include <linux/filter.h>

namespace ferry {

/// The compiled filter, built on first use (thread-safe) and kept for the process's lifetime. Null when
/// ferry was built without libseccomp (FERRY_HAVE_SECCOMP unset). Throws SandboxError when libseccomp
/// fails.
const sock_fprog* sandbox_seccomp_program();

} // namespace ferry
