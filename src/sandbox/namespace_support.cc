#include "ferry/sandbox/namespace_support.hh"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "ferry/sandbox/sandbox_process.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

NamespaceSupport probe() {
    NamespaceSupport out;
    UniqueFd pidfd;
    try {
        pid_t pid = clone_with_pidfd(
            CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC, pidfd);
        if (pid == 0) ::_exit(0);
    } catch (const SysError& e) {
        out.problem = fmt::format("cannot create the namespaces of a sandboxed build: {} ({})",
                                  std::strerror(e.errnum()), user_namespace_sysctls());
        return out;
    }
    siginfo_t info{};
    while (::waitid(idtype_t(P_PIDFD), id_t(pidfd.get()), &info, WEXITED | __WALL) != 0 && errno == EINTR) {
    }
    out.available = true;
    return out;
}

std::string read_trimmed(const char* path) {
    try {
        auto s = read_file(path);
        while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
            s.pop_back();
        return s;
    } catch (const Error&) {
        return "";
    }
}

} // namespace

const NamespaceSupport& sandbox_namespace_support() {
    static const NamespaceSupport support = probe();
    return support;
}

std::string user_namespace_sysctls() {
    struct Switch {
        const char* name;
        const char* path;
    };
    static const Switch switches[] = {
        {"user.max_user_namespaces", "/proc/sys/user/max_user_namespaces"},
        {"kernel.unprivileged_userns_clone", "/proc/sys/kernel/unprivileged_userns_clone"},
        {"kernel.apparmor_restrict_unprivileged_userns",
         "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"},
    };
    std::string out;
    for (const auto& s : switches) {
        auto value = read_trimmed(s.path);
        if (value.empty()) continue;
        if (!out.empty()) out += ", ";
        out += std::string(s.name) + " = " + value;
    }
    return out.empty() ? "no user namespace sysctls found" : out;
}

} // namespace ferry
