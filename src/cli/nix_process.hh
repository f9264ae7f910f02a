#pragma once
// Running Debian's Nix programs (nix-instantiate, nix-store) as child processes: found in PATH (a clear
// error naming the nix-bin package otherwise), standard input /dev/null, standard output read by the
// caller through a pipe, standard error the user's. SIGINT and SIGTERM reaching ferry meanwhile are
// passed on to the child, and the run ends with Interrupted once it has exited.

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::cli {

/// One run of a Nix program.
struct NixCommand {
    /// The program's name, looked up in PATH ("nix-instantiate").
    std::string program;
    std::vector<std::string> args;
    /// Variables set (or replaced) in the child's environment.
    std::vector<std::pair<std::string, std::string>> env;
};

/// Throws Error ("'nix-instantiate' was not found in PATH: … install Debian's nix-bin package") when
/// `program` is in no directory of PATH; returns its full path otherwise.
std::string find_nix_program(const std::string& program);

/// Runs `command`, calling `read_output(fd)` on this thread with the read end of its standard output
/// (it reads to the end, or throws), then waits for it. Returns its exit code (128 + signal when killed).
/// When `read_output` throws, the child is killed and waited for before the exception goes on. Throws
/// Interrupted after SIGINT/SIGTERM (the child has exited by then), SysError when it cannot start.
int run_nix_command(const NixCommand& command, const std::function<void(int fd)>& read_output);

/// 128 + the signal (SIGINT 130, SIGTERM 143) that interrupted the last run_nix_command, else 0.
int nix_signal_exit_code();

/// Reads `fd` to its end.
std::string read_all(int fd, const std::string& what);

/// Runs `command` and returns its standard output; throws Error "'<program>' failed (exit code N)"
/// when it does not exit with 0 (its standard error has told the user why).
std::string nix_command_output(const NixCommand& command);

} // namespace ferry::cli
