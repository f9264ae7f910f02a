#pragma once
/// The files Nix 2.8 writes into the sandbox's /etc, and the identity the builder runs with. Facts read
/// off Nix's `local-derivation-goal.cc`: the builder is uid 1000 / gid 100 ("nixbld") in a user
/// namespace whether or not ferry runs as root. Pure.

#include <string>
#include <string_view>

#include <sys/types.h>

namespace ferry {

/// The builder's uid and gid inside the sandbox (Nix's sandboxUid()/sandboxGid() with a user namespace).
inline constexpr uid_t kSandboxUid = 1000;
inline constexpr gid_t kSandboxGid = 100;

/// `/etc/passwd`: root, nixbld (home `build_dir`, shell /noshell) and nobody.
std::string sandbox_etc_passwd(std::string_view build_dir);
/// `/etc/group`: root, nixbld (gid 100, password "!") and nogroup.
std::string sandbox_etc_group();
/// `/etc/hosts` of a sandboxed (not fixed-output) build: 127.0.0.1 and ::1 as localhost.
std::string sandbox_etc_hosts();
/// `/etc/nsswitch.conf` of a fixed-output build, which sees the host's hosts/resolv.conf/services.
std::string sandbox_etc_nsswitch();

} // namespace ferry
