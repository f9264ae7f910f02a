#pragma once
/// Running the built `ferry` binary as a separate process, for command-line tests.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ferry::test {

struct FerryResult {
    int status = -1; ///< the exit code, or 128 + signal
    std::string out, err;
};

/// Starts `command` (command[0] is the program's path) in this process's environment, with standard
/// input from `in` and standard output and error written to `out` and `err` (created or truncated);
/// returns its pid. Throws when it cannot be started.
pid_t spawn_command(const std::vector<std::string>& command, const std::filesystem::path& in,
                    const std::filesystem::path& out, const std::filesystem::path& err);
/// Waits for `pid`; returns its exit code, or 128 + the signal that killed it.
int wait_command(pid_t pid);

/// Runs `command` (command[0] is the program's path) with standard input from `stdin_file`, in this
/// process's environment; waits for it and returns its exit status and output.
FerryResult run_command(const std::vector<std::string>& command,
                        const std::filesystem::path& stdin_file = "/dev/null");

/// Runs `command` with /bin/sh; returns its standard output, or std::nullopt when it fails (non-zero exit,
/// killed, or not started). For tests that drive other tools (Nix's) through pipes.
std::optional<std::string> shell_output(const std::string& command);

/// Points the variables that choose Nix's and ferry's configuration files at directories under `dir`
/// (NIX_CONF_DIR=dir/etc-nix, XDG_CONFIG_HOME=dir/config, XDG_CONFIG_DIRS=dir/xdg) and unsets NIX_CONFIG
/// and NIX_USER_CONF_FILES, in this process's environment, which the commands run here inherit: no
/// /etc/nix/nix.conf or ~/.config of the host reaches them.
void isolate_config_environment(const std::filesystem::path& dir);

/// Runs build_root()/src/cli/ferry with `args`, standard input from `stdin_file`, in this process's
/// environment; waits for it and returns its exit status and output.
FerryResult run_ferry(const std::vector<std::string>& args,
                      const std::filesystem::path& stdin_file = "/dev/null");

/// Processes other than this one whose environment holds `needle` (a test tags what it starts with a
/// unique variable to find what is left of it).
std::vector<int> processes_with_env(const std::string& needle);

} // namespace ferry::test
