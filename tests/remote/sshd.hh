#pragma once
/// A private OpenSSH server for tests: Debian's sshd on 127.0.0.1 on a free port, with its own host key,
/// a generated user key and an authorized_keys whose forced command is what every connection runs
/// (whatever the client asks), as the user running the tests; stopped and deleted on destruction.

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "ferry/util/file.hh"

namespace ferry::test {

/// A loopback port nobody listens on now (the kernel's choice, closed again).
unsigned free_loopback_port();

class SshServer {
public:
    /// Starts sshd and waits (≤ 10 s) until it accepts connections. `forced_command` runs through the
    /// user's shell for every connection. Creates /run/sshd (sshd's privilege separation directory) when
    /// missing, saying so on stderr. Throws std::runtime_error when sshd does not come up.
    explicit SshServer(const std::string& forced_command);
    ~SshServer();
    SshServer(const SshServer&) = delete;
    SshServer& operator=(const SshServer&) = delete;

    unsigned port() const { return port_; }
    /// "ssh://<user>@127.0.0.1:<port>".
    std::string uri() const;
    /// The private key authorized_keys accepts.
    std::filesystem::path user_key() const { return dir_.path() / "user_key"; }
    /// base64 of the host's public key line, as a machines file writes it.
    std::string host_key_base64() const;
    /// A known_hosts file for the server.
    std::filesystem::path known_hosts() const { return dir_.path() / "known_hosts"; }
    /// Kills sshd now (and its sessions' processes stay to their own fate); idempotent.
    void stop();
    /// The machine goes away at once: sshd and every process under it (its sessions, their forced
    /// commands and what those started) are frozen, then killed with SIGKILL; idempotent.
    void kill_all();
    /// Its sessions go away at once (as kill_all() kills them); sshd keeps accepting connections.
    void kill_sessions();
    /// The processes under sshd now (its sessions and theirs); 0 once stopped.
    size_t descendants() const;
    /// What sshd wrote to its standard error.
    std::string log() const;

private:
    TempDir dir_;
    unsigned port_ = 0;
    pid_t pid_ = -1;
    /// Freezes sshd and everything under it, kills what is under it (SIGKILL), then sshd too or (not
    /// `listener`) lets it go on.
    void kill_tree(bool listener);
};

} // namespace ferry::test
