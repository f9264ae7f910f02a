#pragma once
/// A RemoteMachine reached over SSH: Debian's `ssh` runs `<remote-program> --serve --write [--store
/// <remote-store>]` on the machine (Nix's legacy ssh store), and Nix's serve protocol is spoken over its
/// pipes (remote/serve_connection.hh). At most `spec.max_jobs` connections, each opened when a call needs
/// one and kept open for the whole run (a pool inside the machine).

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/build_machine.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

struct SshOptions {
    /// Extra arguments for ssh, before ours (NIX_SSHOPTS split on whitespace: ssh_options_from_env()).
    std::vector<std::string> extra_args;
    /// The ssh client to run.
    std::string ssh_program = "ssh";
    /// The local store's (and so the machine's) store directory, for printing and parsing paths.
    StoreDir store_dir;
};

/// NIX_SSHOPTS split on whitespace (empty when unset).
std::vector<std::string> ssh_options_from_env();

/// The parts of a machine's `ssh://[user@]host[:port][?remote-program=…&remote-store=…]` URI.
struct SshUri {
    std::string host; ///< "[user@]host" as ssh takes it
    std::string hostname;
    std::string port; ///< empty: ssh's default
    std::string remote_program = "nix-store";
    std::string remote_store;
};
/// Throws Error naming the URI when it is not `ssh://…` or has an unknown parameter.
SshUri parse_ssh_uri(const std::string& uri);

/// The command line that reaches the machine: ssh, its options, the host and the remote command.
/// `known_hosts` is the file holding the spec's host key, or empty.
std::vector<std::string> ssh_command(const MachineSpec& spec, const SshUri& uri, const SshOptions& options,
                                     const std::string& known_hosts);

/// The machine of `spec`; nothing is started until the first call. Ignores SIGPIPE in this process from
/// then on (a write to a dead ssh must fail, not kill ferry). `ex` is the worker's loop, `pool` where NARs
/// are dumped and restored; both outlive the machine. Throws Error for an invalid URI.
std::unique_ptr<RemoteMachine> make_ssh_machine(boost::asio::any_io_executor ex,
                                                boost::asio::thread_pool& pool, MachineSpec spec,
                                                SshOptions options);

} // namespace ferry
