#pragma once
/// Choosing the builder from the options `sandbox` (true / false / relaxed) and `sandbox-fallback`, as Nix
/// does. The unsandboxed builder is LocalBuilder (local_builder.hh); tests may pass another factory.

#include <functional>
#include <memory>
#include <string_view>

#include "ferry/sched/builder.hh"
#include "ferry/util/settings.hh"

namespace ferry {

/// Makes the builder for `sandbox = false`.
using UnsandboxedBuilderFactory = std::function<std::unique_ptr<Builder>()>;

struct BuilderContext {
    /// The store's files are not at the logical store dir (a `--store DIR` root). Builders then find
    /// their inputs at the logical paths only through mounts in a namespace (the sandbox's, or the
    /// unsandboxed builder's one bind mount), so without namespaces there is no fallback.
    bool diverted_store = false;
    /// Empty: LocalBuilder.
    UnsandboxedBuilderFactory unsandboxed;
    /// Receives the fallback warning; null: a warning event (events()).
    std::function<void(std::string_view)> warn;
};

/// - `sandbox = true`: the SandboxBuilder; derivations with `__noChroot` are refused.
/// - `sandbox = relaxed`: the sandbox, except for fixed-output derivations and those with
///   `__noChroot = "1"`, which get the unsandboxed builder.
/// - `sandbox = false`: the unsandboxed builder.
/// When the sandbox is wanted but this process cannot create its namespaces: with `sandbox-fallback`,
/// a warning and the unsandboxed builder; otherwise a SandboxError that says why (the clone error and
/// the user-namespace sysctls). Probes namespaces once per process. The result is used on one
/// io_context thread.
std::unique_ptr<Builder> make_builder(const Settings& settings, const BuilderContext& context = {});

} // namespace ferry
