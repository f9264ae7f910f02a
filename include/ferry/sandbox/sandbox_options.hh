#pragma once
/// The settings a sandboxed build uses, taken from ferry's Settings (Nix's option names).

#include <filesystem>
#include <string>
#include <vector>

#include "ferry/sandbox/build_user.hh"
#include "ferry/util/settings.hh"

namespace ferry {

struct SandboxOptions {
    /// `sandbox-paths`: host paths made visible ("path", "target=source", "…?" when optional).
    std::vector<std::string> sandbox_paths;
    /// `impersonate-linux-26`: the UNAME26 personality for i686-linux and x86_64-linux builds.
    bool impersonate_linux_26 = false;
    /// This machine's system type (Nix's `system`), for the 32-bit personality of i686 builds.
    std::string system = "x86_64-linux";
    /// Where the build directory is made on the host; empty: $TMPDIR or /tmp, as Nix.
    std::filesystem::path build_dir_parent;
    /// The build directory inside the sandbox (Nix's `sandbox-build-dir`).
    std::string build_dir_in_sandbox = "/build";
    /// Size of the /dev/shm tmpfs (Nix's `sandbox-dev-shm-size`).
    std::string shm_size = "50%";
    /// Install the seccomp filter (Nix's `filter-syscalls`).
    bool filter_syscalls = true;
    /// Refuse derivations with `__noChroot` (Nix does when `sandbox = true`).
    bool reject_no_chroot = true;
    /// As root: the unprivileged host ids builds run under.
    BuildUserOptions build_users;

    static SandboxOptions from_settings(const Settings& settings);
};

} // namespace ferry
