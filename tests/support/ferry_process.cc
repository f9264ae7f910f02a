#include "support/ferry_process.hh"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "ferry/util/file.hh"
#include "support/fixtures.hh"

extern char** environ;

namespace fs = std::filesystem;

namespace ferry::test {

FerryResult run_ferry(const std::vector<std::string>& args, const fs::path& stdin_file) {
    std::vector<std::string> command{(build_root() / "src" / "cli" / "ferry").string()};
    command.insert(command.end(), args.begin(), args.end());
    return run_command(command, stdin_file);
}

void isolate_config_environment(const fs::path& dir) {
    ::setenv("NIX_CONF_DIR", (dir / "etc-nix").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (dir / "config").c_str(), 1);
    ::setenv("XDG_CONFIG_DIRS", (dir / "xdg").c_str(), 1);
    ::unsetenv("NIX_CONFIG");
    ::unsetenv("NIX_USER_CONF_FILES");
}

pid_t spawn_command(const std::vector<std::string>& command, const fs::path& in, const fs::path& out,
                    const fs::path& err) {
    std::string bin = command.front();
    std::vector<std::string> copy(command.begin() + 1, command.end());
    std::vector<char*> argv{bin.data()};
    for (auto& a : copy)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot run " + bin);
    return pid;
}

int wait_command(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<std::string> shell_output(const std::string& command) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return std::nullopt;
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
        out.append(buf, n);
    if (::pclose(pipe) != 0) return std::nullopt;
    return out;
}

FerryResult run_command(const std::vector<std::string>& command, const fs::path& stdin_file) {
    TempDir io;
    fs::path out = io.path() / "out", err = io.path() / "err";
    FerryResult r;
    r.status = wait_command(spawn_command(command, stdin_file, out, err));
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
}

std::vector<int> processes_with_env(const std::string& needle) {
    std::vector<int> found;
    for (const auto& e : fs::directory_iterator("/proc")) {
        auto name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == ::getpid())
            continue;
        std::ifstream in(e.path() / "environ", std::ios::binary);
        std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (env.find(needle) != std::string::npos) found.push_back(std::stoi(name));
    }
    return found;
}

} // namespace ferry::test
