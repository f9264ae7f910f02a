#pragma once
/// One BuildDerivation of `ferry serve`: the basic derivation the client sent (its input sources the
/// whole input closure, valid here) built with the local builder under the settings the request
/// carries, its outputs staged, checked and made valid (the one way to validity), and the outcome as
/// Nix's BuildResult.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/remote/serve_protocol.hh"
#include "ferry/sched/builder.hh"
#include "ferry/sched/local_store_view.hh"

namespace ferry {

struct ServerBuild {
    LocalStoreView& store;
    Builder& builder;
    boost::asio::thread_pool& pool;
    /// Where the build log goes (written as it arrives).
    int log_fd;
    unsigned cores = 1;

    /// Never throws for a failed build: the failure is the result's status and message (Nix's
    /// BuildResult::Status: TimedOut, PermanentFailure, TransientFailure for a fixed-output
    /// derivation's builder, OutputRejected for a wrong fixed-output hash, MiscFailure otherwise).
    boost::asio::awaitable<serve::BuildResult> run(const StorePath& drv_path, const Derivation& drv,
                                                   const serve::BuildOptions& options);

    /// BuildPaths' derivation `drv_path` (valid here), as Nix's buildPaths without substitutes: each input
    /// derivation whose needed outputs are not all valid is built first (depth first, each once: `seen`),
    /// then the derivation as a basic one. The first failure's result (DependencyFailed naming the
    /// input for a failed input). Throws InvalidPath for a derivation that is not valid.
    boost::asio::awaitable<serve::BuildResult>
    build_path(const StorePath& drv_path, const serve::BuildOptions& options, StorePathSet& seen);
};

} // namespace ferry
