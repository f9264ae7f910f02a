#pragma once
/// Whether this process can create the namespaces a sandboxed build needs (user, mount, PID, network,
/// UTS, IPC), and if not, why: the kernel's switches that govern unprivileged user namespaces are named
/// with their values so the failure mode is clear.

#include <string>

namespace ferry {

struct NamespaceSupport {
    bool available = false;
    /// Empty when available; otherwise one line: the clone error and the relevant sysctls, e.g.
    /// "cannot create a user namespace: Operation not permitted (user.max_user_namespaces = 0)".
    std::string problem;
};

/// Tries once per process (thread-safe): clones a child into the namespaces, which exits at once. The
/// result is cached.
const NamespaceSupport& sandbox_namespace_support();

/// The kernel switches that govern unprivileged user namespaces and their values, e.g.
/// "user.max_user_namespaces = 63704, kernel.unprivileged_userns_clone = 1"; switches this kernel does
/// not have are left out.
std::string user_namespace_sysctls();

} // namespace ferry
