#pragma once
/// The builder interface: how a DerivationGoal runs one derivation's builder. Two implementations: the
/// unsandboxed builder (sandbox/local_builder.hh, `sandbox = false`) and the Linux namespace sandbox
/// (sandbox/sandbox_builder.hh). Builders run on the worker's io_context thread; the process they start
/// is watched asynchronously, so many builds run at once from one thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/build_env.hh"
#include "ferry/store/derivation.hh"
#include "ferry/util/error.hh"

namespace ferry {

/// A build that failed: the builder exited non-zero, was killed by a timeout, or could not start.
/// The message names the derivation and the reason.
class BuildError : public Error {
public:
    using Error::Error;
};

/// Everything a builder needs to run one derivation. Owned by the caller for the whole build.
struct BuildJob {
    StorePath drv_path;
    const Derivation* drv = nullptr;
    StoreDir store_dir;
    /// Where the store's files are on the host (`<root>/nix/store`); equals store_dir.dir() for a store
    /// at the real /nix/store.
    std::filesystem::path real_store_dir;
    /// A directory on the same filesystem as real_store_dir for the builder's scratch space (build
    /// directory, sandbox root), so outputs can be renamed into the store.
    std::filesystem::path scratch_parent;
    /// Output name → logical store path the builder must create.
    std::map<std::string, StorePath> outputs;
    /// Every store path the builder may read: the closure of its inputs.
    StorePathSet input_closure;
    /// Environment settings; the builder sets build_top itself.
    BuildEnvOptions env;
    unsigned max_silent_time = 0; ///< seconds; 0: no limit
    unsigned timeout = 0;         ///< seconds; 0: no limit
    uint64_t max_log_size = 0;    ///< bytes of log; 0: no limit
    bool keep_failed = false;
    /// `--check`: the outputs are valid already and this build is compared with them. A builder must
    /// leave the valid paths untouched (the sandbox builds into scratch space; the unsandboxed
    /// builder, which builds at the outputs' own paths, refuses).
    bool check = false;
    /// With `check`: the rebuilt outputs replace the valid ones' files when they match (BuildMode::repair).
    bool repair = false;
    /// Receives the builder's output (stdout and stderr) as it arrives.
    std::function<void(std::string_view)> log;
    /// When set, awaited after each piece of output given to `log`: resumes once the log can take more
    /// (its writer has caught up), so a builder's output is read no faster than it is stored.
    std::function<boost::asio::awaitable<void>()> log_wait;
    /// Where a builder runs its blocking preparation (creating the sandbox, stat()ing every input), so
    /// that the loop thread never waits for the disk. Null: on the calling thread.
    boost::asio::thread_pool* pool = nullptr;
};

/// The outcome of a build that exited successfully: where each output's tree is on the host. The
/// caller canonicalises, scans, hashes and moves them into the store, then destroys this object, which
/// removes the builder's scratch space.
class BuiltOutputs {
public:
    virtual ~BuiltOutputs() = default;
    /// Output name → host path of the tree the builder made (it may be missing if the builder did not
    /// create the output; the caller reports that).
    std::map<std::string, std::filesystem::path> locations;
};

class Builder {
public:
    virtual ~Builder() = default;
    /// Runs the builder to completion. Throws BuildError (non-zero exit, timeout, silence, set-up
    /// failure). Cancelling the awaiting coroutine kills the build and everything it started.
    virtual boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob& job) = 0;
    /// Short name for logs: "local", "sandbox".
    virtual std::string_view name() const = 0;
};

} // namespace ferry
