#include "ferry/sandbox/etc_files.hh"

#include <fmt/format.h>

namespace ferry {

std::string sandbox_etc_passwd(std::string_view build_dir) {
    return fmt::format("root:x:0:0:Nix build user:{2}:/noshell\n"
                       "nixbld:x:{0}:{1}:Nix build user:{2}:/noshell\n"
                       "nobody:x:65534:65534:Nobody:/:/noshell\n",
                       kSandboxUid, kSandboxGid, build_dir);
}

std::string sandbox_etc_group() {
    return fmt::format("root:x:0:\n"
                       "nixbld:!:{}:\n"
                       "nogroup:x:65534:\n",
                       kSandboxGid);
}

std::string sandbox_etc_hosts() {
    return "127.0.0.1 localhost\n::1 localhost\n";
}

std::string sandbox_etc_nsswitch() {
    return "hosts: files dns\nservices: files\n";
}

} // namespace ferry
