#include "ferry/sandbox/sandbox_options.hh"

namespace ferry {

SandboxOptions SandboxOptions::from_settings(const Settings& settings) {
    SandboxOptions options;
    options.sandbox_paths = settings.sandbox_paths;
    options.impersonate_linux_26 = settings.impersonate_linux_26;
    options.system = settings.system;
    options.reject_no_chroot = settings.sandbox == "true";
    options.build_users = BuildUserOptions::from_settings(settings);
    return options;
}

} // namespace ferry
