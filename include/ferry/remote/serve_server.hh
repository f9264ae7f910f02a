#pragma once
/// The server side of Nix's serve protocol over a local store, as `nix-store --serve [--write]` behaves:
/// the shell around serve_protocol.hh behind `ferry serve`. Paths arrive through the store view's staging
/// and make_valid() (the one way to validity), each NAR checked against the hash the client sent;
/// BuildDerivation runs the given basic derivation with the builder it is given, applying the settings
/// the request carries (max-silent-time, timeout, max-log-size, keep-failed), the build log going to
/// `log_fd`. Without `write`, the commands that change the store are refused with Nix's messages.
///
/// Threading: run() on the loop thread of `ex`; NARs are dumped and restored on `pool`.

#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/sched/local_store_view.hh"

namespace ferry {

struct ServeServerOptions {
    /// `--write`: accept ImportPaths, AddToStoreNar, BuildPaths and BuildDerivation.
    bool write = false;
    /// NIX_BUILD_CORES of the builds.
    unsigned cores = 1;
    /// With `write`, QueryValidPaths' substitute flag: fetches the given paths (invalid, not derivations)
    /// from the substituters before the answer, as Nix's substitutePaths; it reports its failures itself
    /// (warnings) and does not throw for them. Runs on the loop thread. Null: nothing to substitute from.
    std::function<boost::asio::awaitable<void>(StorePathSet)> substitute;
};

/// Serves one client on `in_fd`/`out_fd` (not owned; they must stay open until run() returns) until it
/// closes its end. Throws Error for what ends the session as it ends nix-store's (a protocol mismatch, a
/// refused command, an unknown command, an invalid path to dump): the caller prints it and exits 1.
boost::asio::awaitable<void> serve_store(boost::asio::any_io_executor ex, boost::asio::thread_pool& pool,
                                         LocalStoreView& store, Builder& builder, int in_fd, int out_fd,
                                         int log_fd, ServeServerOptions options);

} // namespace ferry
