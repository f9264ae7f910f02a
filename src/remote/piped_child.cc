// PipedChild: posix_spawn with three pipes, its own process group, default signals.

#include "ferry/remote/piped_child.hh"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "ferry/util/error.hh"

extern char** environ;

namespace ferry {

namespace {

std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    check_sys(::pipe2(fds, O_CLOEXEC), "pipe2");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

} // namespace

PipedChild::PipedChild(const std::vector<std::string>& argv) {
    auto [in_r, in_w] = make_pipe();
    auto [out_r, out_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in_r.get(), STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, out_w.get(), STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, err_w.get(), STDERR_FILENO);
    posix_spawnattr_t attr;
    ::posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &all);
    ::posix_spawnattr_setpgroup(&attr, 0);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (rc != 0) throw SysError(rc, "cannot start '" + argv[0] + "'");
    in = std::move(in_w);
    out = std::move(out_r);
    err = std::move(err_r);
}

int PipedChild::terminate() {
    if (pid_ <= 0) return -1;
    in.reset();
    out.reset();
    err.reset();
    ::kill(pid_, SIGTERM);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
}

bool PipedChild::exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
}

PipedChild::~PipedChild() {
    terminate();
}

std::string shell_quote(std::string_view word) {
    bool safe = !word.empty();
    for (char c : word)
        if (!(isalnum(static_cast<unsigned char>(c)) ||
              std::string_view("@%+=:,./-_").find(c) != std::string_view::npos))
            safe = false;
    if (safe) return std::string(word);
    std::string out = "'";
    for (char c : word) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

std::string shell_quote_command(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += shell_quote(a);
    }
    return out;
}

} // namespace ferry
