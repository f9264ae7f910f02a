#pragma once
/// A child process (ssh) with its standard input, output and error connected to pipes, for a protocol
/// spoken over them.

#include <sys/types.h>

#include <string>
#include <vector>

#include "ferry/util/file.hh"

namespace ferry {

/// Owns the child: the destructor closes the pipes, sends SIGTERM and reaps it. The child runs in its own
/// process group (a Ctrl-C at the terminal reaches ferry, which decides), with default signal
/// dispositions and an empty signal mask; it inherits no other descriptor. One thread.
class PipedChild {
public:
    /// Starts `argv` (argv[0] looked up in PATH). Throws SysError naming the program.
    explicit PipedChild(const std::vector<std::string>& argv);
    ~PipedChild();
    PipedChild(const PipedChild&) = delete;
    PipedChild& operator=(const PipedChild&) = delete;

    pid_t pid() const noexcept { return pid_; }
    /// The write end of its standard input, the read ends of its output and error; the caller may take
    /// them (release()).
    UniqueFd in, out, err;

    /// Terminates (SIGTERM) and reaps it now; returns its wait status, or -1 when already reaped.
    int terminate();
    /// Whether it has exited (then reaped); does not wait.
    bool exited();

private:
    pid_t pid_ = -1;
};

/// "program arg …" for messages, each word shell-quoted when needed.
std::string shell_quote_command(const std::vector<std::string>& argv);
/// One word for a POSIX shell: itself when it has only safe characters, else in single quotes.
std::string shell_quote(std::string_view word);

} // namespace ferry
