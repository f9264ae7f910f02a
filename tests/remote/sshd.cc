#include "sshd.hh"

#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ferry/util/encoding.hh"
#include "support/ferry_process.hh"

namespace fs = std::filesystem;

namespace ferry::test {

unsigned free_loopback_port() {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(s);
        throw std::runtime_error("no free port");
    }
    ::close(s);
    return ntohs(a.sin_port);
}

namespace {

bool accepts(unsigned port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

std::string user_name() {
    passwd* pw = ::getpwuid(::geteuid());
    if (!pw) throw std::runtime_error("no user name for this uid");
    return pw->pw_name;
}

void keygen(const fs::path& file) {
    if (!shell_output("ssh-keygen -q -t ed25519 -N '' -C ferry-test -f '" + file.string() + "' </dev/null"))
        throw std::runtime_error("ssh-keygen failed for " + file.string());
}

std::string escape_quotes(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

/// The parent of `pid` as /proc says, or -1 when it is gone.
pid_t parent_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')'); // the command name may hold spaces and parentheses
    if (close == std::string::npos || close + 4 >= stat.size()) return -1;
    try {
        return std::stoi(stat.substr(close + 4)); // ") S <ppid>"
    } catch (...) {
        return -1;
    }
}

/// Every process under `root` (children, their children, …), from one pass over /proc.
std::set<pid_t> descendants_of(pid_t root) {
    std::map<pid_t, std::vector<pid_t>> children;
    for (const auto& e : fs::directory_iterator("/proc")) {
        auto name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        if (pid_t parent = parent_of(pid); parent > 0) children[parent].push_back(pid);
    }
    std::set<pid_t> out;
    std::vector<pid_t> todo{root};
    while (!todo.empty()) {
        pid_t p = todo.back();
        todo.pop_back();
        for (pid_t c : children[p])
            if (out.insert(c).second) todo.push_back(c);
    }
    return out;
}

} // namespace

SshServer::SshServer(const std::string& forced_command) : dir_(fs::temp_directory_path(), "ferry-sshd") {
    if (!fs::exists("/run/sshd")) {
        std::cerr << "sshd test harness: creating /run/sshd (sshd's privilege separation directory)\n";
        fs::create_directories("/run/sshd");
        ::chmod("/run/sshd", 0755);
    }
    fs::path d = dir_.path();
    keygen(d / "host_key");
    keygen(d / "user_key");
    write_file_atomic(d / "authorized_keys",
                      "command=\"" + escape_quotes(forced_command) +
                          "\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty " +
                          read_file(d / "user_key.pub"),
                      0600);
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_loopback_port();
        write_file_atomic(d / "sshd_config",
                          "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " +
                              (d / "host_key").string() + "\nPidFile " + (d / "sshd.pid").string() +
                              "\nAuthorizedKeysFile " + (d / "authorized_keys").string() +
                              "\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
                              "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                              "PermitRootLogin prohibit-password\nAllowUsers " +
                              user_name() + "\nMaxStartups 200\nMaxSessions 200\nLogLevel ERROR\n");
        pid_ = spawn_command({"/usr/sbin/sshd", "-D", "-e", "-f", (d / "sshd_config").string()}, "/dev/null",
                             d / "sshd.out", d / "sshd.err");
        for (int i = 0; i < 500; ++i) {
            int status;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) { // could not listen: the port was taken
                pid_ = -1;
                break;
            }
            if (accepts(port_)) {
                std::string host_pub = read_file(d / "host_key.pub");
                write_file_atomic(d / "known_hosts", "[127.0.0.1]:" + std::to_string(port_) + " " + host_pub);
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        stop();
    }
    throw std::runtime_error("sshd did not start: " + log());
}

SshServer::~SshServer() {
    stop();
}

void SshServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait_command(pid_);
    pid_ = -1;
}

void SshServer::kill_all() {
    kill_tree(true);
}

void SshServer::kill_sessions() {
    kill_tree(false);
}

void SshServer::kill_tree(bool listener) {
    if (pid_ <= 0) return;
    // Frozen first, so that nothing forks or is re-parented (out of reach) while the tree is walked; a
    // few passes, as a process may have forked just before it was stopped.
    ::kill(pid_, SIGSTOP);
    std::set<pid_t> frozen;
    for (int pass = 0; pass < 20; ++pass) {
        size_t before = frozen.size();
        for (pid_t p : descendants_of(pid_))
            if (frozen.insert(p).second) ::kill(p, SIGSTOP);
        if (pass > 0 && frozen.size() == before) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (pid_t p : frozen)
        ::kill(p, SIGKILL);
    if (!listener) {
        ::kill(pid_, SIGCONT);
        return;
    }
    ::kill(pid_, SIGKILL);
    wait_command(pid_);
    pid_ = -1;
}

size_t SshServer::descendants() const {
    return pid_ > 0 ? descendants_of(pid_).size() : 0;
}

std::string SshServer::uri() const {
    return "ssh://" + user_name() + "@127.0.0.1:" + std::to_string(port_);
}

std::string SshServer::host_key_base64() const {
    std::string line = read_file(dir_.path() / "host_key.pub");
    while (!line.empty() && line.back() == '\n')
        line.pop_back();
    return base64_encode({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
}

std::string SshServer::log() const {
    try {
        return read_file(dir_.path() / "sshd.err");
    } catch (...) {
        return "";
    }
}

} // namespace ferry::test
