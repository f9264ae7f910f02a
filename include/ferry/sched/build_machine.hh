#pragma once
/// Machines that build besides this one, as the scheduler sees them: what each can build (Nix's machine
/// line, parsed by remote/machine_file.hh) and the three things the scheduler asks of it (which paths it
/// has, copy paths to it, build a derivation there and copy the outputs back). The implementation over
/// SSH and Nix's serve protocol is remote/ssh_machine.hh; the scheduler's tests use a fake.
///
/// Threading: every member of RemoteMachine is called on the worker's io_context thread; blocking work
/// (reading or restoring NARs) goes to the pool.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/sched/store_view.hh"
#include "ferry/store/path_info.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/error.hh"

namespace ferry {

/// One line of Nix's `builders` / machines file, with Nix's defaults filled in.
struct MachineSpec {
    /// `ssh://[user@]host[:port]` (the scheme is added when the line has none); its store parameters
    /// (`?remote-program=…&remote-store=…`) kept.
    std::string uri;
    /// The systems it builds for (at least one: the local `system` when the line gives `-`).
    std::vector<std::string> systems;
    /// The SSH identity file; empty: ssh's default.
    std::string ssh_key;
    unsigned max_jobs = 1;
    /// How much faster than a machine of speed 1 (> 0).
    double speed_factor = 1.0;
    std::set<std::string> supported_features;
    /// Features a derivation must require to be built here.
    std::set<std::string> mandatory_features;
    /// The machine's SSH host key, base64 of an OpenSSH public key line; empty: ssh's known_hosts.
    std::string public_host_key;

    /// Whether it builds a derivation for `system` requiring `features` (Nix's Machine::allSupported
    /// and mandatoryMet): `system` among `systems` (or a `builtin:` builder), every required feature
    /// supported or mandatory, every mandatory feature required.
    bool can_build(std::string_view system, const std::set<std::string>& features) const;
};

/// The machine cannot be used: it could not be reached, the connection died, or it spoke garbage or an
/// unsupported protocol version. The scheduler marks it down (with back-off) and builds elsewhere; a
/// failed build on a working machine is a BuildError instead.
class MachineDown : public Error {
public:
    using Error::Error;
};

class RemoteMachine {
public:
    virtual ~RemoteMachine() = default;

    virtual const MachineSpec& spec() const = 0;

    /// The subset of `paths` valid on the machine (the serve protocol's QueryValidPaths); with
    /// `substitute` (`builders-use-substitutes`) the machine first tries to fetch the others from its
    /// own substituters. Throws MachineDown.
    virtual boost::asio::awaitable<StorePathSet> query_valid(StorePathSet paths, bool substitute) = 0;

    /// Copies `paths` to the machine: each is valid in `store`, and `paths` is ordered so that every
    /// path comes after the paths it refers to. Throws MachineDown.
    virtual boost::asio::awaitable<void> upload(StoreView& store, std::vector<ValidPathInfo> paths) = 0;

    /// Builds `job.drv` on the machine (its inputs valid there), passing the job's limits
    /// (max_silent_time, timeout, max_log_size, keep_failed); the build's log goes to `job.log` as it
    /// arrives. The outputs are copied back into `store`'s staging area, each checked against the NAR
    /// hash and size the machine reports, and returned as staged trees (with references, deriver and
    /// signatures): the caller makes them valid. Throws BuildError when the build failed (with Nix's
    /// message and status), MachineDown when the machine did. Cancelling it stops the remote build.
    virtual boost::asio::awaitable<std::vector<StagedTree>> build(const BuildJob& job, StoreView& store) = 0;
};

} // namespace ferry
