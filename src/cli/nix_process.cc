#include "nix_process.hh"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <optional>

#include "ferry/sched/worker.hh"
#include "ferry/util/file.hh"

extern char** environ;

namespace ferry::cli {

namespace {

std::atomic<pid_t> g_child{0};
volatile std::sig_atomic_t g_signal = 0;

extern "C" void pass_on_signal(int sig) {
    g_signal = sig;
    pid_t child = g_child.load();
    if (child > 0) ::kill(child, sig);
}

/// Catches SIGINT and SIGTERM while a child runs (passing them on to it); restores the previous
/// handlers at the end.
class SignalsToChild {
public:
    SignalsToChild() {
        g_signal = 0;
        struct sigaction sa {};
        sa.sa_handler = pass_on_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGINT, &sa, &old_int_);
        ::sigaction(SIGTERM, &sa, &old_term_);
    }
    ~SignalsToChild() {
        g_child = 0;
        ::sigaction(SIGINT, &old_int_, nullptr);
        ::sigaction(SIGTERM, &old_term_, nullptr);
    }
    SignalsToChild(const SignalsToChild&) = delete;
    SignalsToChild& operator=(const SignalsToChild&) = delete;

private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

int g_last_signal = 0;

int wait_child(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw SysError("waiting for a Nix process");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// The exit code of `pid` once it has exited, waiting at most `limit`; std::nullopt if it is still running.
std::optional<int> exit_within(pid_t pid, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR) throw SysError("waiting for a Nix process");
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        ::usleep(10 * 1000);
    }
}

/// "NAME=VALUE" strings: this process's environment with `overrides` set.
std::vector<std::string>
child_environment(const std::vector<std::pair<std::string, std::string>>& overrides) {
    std::map<std::string, std::string> vars;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        if (eq != std::string_view::npos)
            vars[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
    }
    for (const auto& [name, value] : overrides)
        vars[name] = value;
    std::vector<std::string> out;
    for (const auto& [name, value] : vars)
        out.push_back(name + "=" + value);
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

pid_t spawn(const std::string& program, const NixCommand& command, int stdout_fd, int stdout_read_end) {
    std::vector<std::string> argv{command.program};
    argv.insert(argv.end(), command.args.begin(), command.args.end());
    auto envp_strings = child_environment(command.env);
    auto argv_c = c_strings(argv);
    auto envp_c = c_strings(envp_strings);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    ::posix_spawn_file_actions_addclose(&actions, stdout_read_end);
    pid_t pid = 0;
    int err = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv_c.data(), envp_c.data());
    ::posix_spawn_file_actions_destroy(&actions);
    if (err != 0) throw SysError(err, "starting '" + program + "'");
    return pid;
}

} // namespace

std::string find_nix_program(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "";
    for (size_t pos = 0; pos <= dirs.size();) {
        auto colon = dirs.find(':', pos);
        auto dir = dirs.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos);
        std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + program;
        struct stat st;
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        if (colon == std::string_view::npos) break;
        pos = colon + 1;
    }
    throw Error(
        "'{}' was not found in PATH: ferry evaluates Nix expressions and reads Nix stores with Nix's own "
        "programs (install Debian's nix-bin package)",
        program);
}

int run_nix_command(const NixCommand& command, const std::function<void(int fd)>& read_output) {
    auto program = find_nix_program(command.program);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("creating a pipe");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    SignalsToChild signals;
    g_last_signal = 0;
    pid_t pid = spawn(program, command, write_end.get(), read_end.get());
    g_child = pid;
    if (g_signal) ::kill(pid, g_signal); // arrived before the child was known
    write_end.reset();
    int code = 0;
    try {
        read_output(read_end.get());
        read_end.reset();
        code = wait_child(pid);
    } catch (...) {
        // A child that failed by itself (its output cut short, which the reader found malformed) has
        // said why on standard error: its failure is the error. Otherwise the reader's error is.
        std::optional<int> failed = exit_within(pid, std::chrono::milliseconds(200));
        if (!failed) {
            ::kill(pid, SIGTERM);
            read_end.reset();
            wait_child(pid);
        }
        if (!g_signal && failed && *failed != 0)
            throw Error("'{}' failed (exit code {})", command.program, *failed);
        if (!g_signal) throw;
    }
    if (g_signal) {
        g_last_signal = g_signal;
        throw Interrupted("{} while '{}' was running",
                          g_signal == SIGINT ? "interrupted by SIGINT" : "terminated by SIGTERM",
                          command.program);
    }
    return code;
}

int nix_signal_exit_code() {
    return g_last_signal ? 128 + g_last_signal : 0;
}

std::string read_all(int fd, const std::string& what) {
    std::string out;
    char buf[65536];
    while (size_t n = read_full(fd, buf, what)) {
        out.append(buf, n);
        if (n < sizeof buf) break;
    }
    return out;
}

std::string nix_command_output(const NixCommand& command) {
    std::string out;
    int code =
        run_nix_command(command, [&](int fd) { out = read_all(fd, "the output of " + command.program); });
    if (code != 0) throw Error("'{}' failed (exit code {})", command.program, code);
    return out;
}

} // namespace ferry::cli
