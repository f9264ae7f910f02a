#pragma once
/// Running the built `ferry` binary as a separate process, for command-line tests.

#include <filesystem>
#include <string>
#include <vector>

namespace ferry::test {

struct FerryResult {
    int status = -1; ///< the exit code, or 128 + signal
    std::string out, err;
};

/// Runs `command` (command[0] is the program's path) with standard input from `stdin_file`, in this
/// process's environment; waits for it and returns its exit status and output.
FerryResult run_command(const std::vector<std::string>& command,
                        const std::filesystem::path& stdin_file = "/dev/null");

/// Runs build_root()/src/cli/ferry with `args`, standard input from `stdin_file`, in this process's
/// environment; waits for it and returns its exit status and output.
FerryResult run_ferry(const std::vector<std::string>& args,
                      const std::filesystem::path& stdin_file = "/dev/null");

} // namespace ferry::test
