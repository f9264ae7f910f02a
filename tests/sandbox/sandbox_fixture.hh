#pragma once
/// A temporary store for sandbox tests: `<tmp>/root/nix/store` with the fixtures' busybox path laid out
/// from /bin/busybox (`bin/busybox`, `bin/sh -> busybox`), scratch space beside it, and helpers that make
/// busybox-sh derivations and run builds on a private io_context.

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "ferry/sched/builder.hh"
#include "ferry/store/derivation.hh"
#include "ferry/util/file.hh"

namespace ferry::test {

inline constexpr const char* kBusyboxBase = "jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";
inline constexpr const char* kBusyboxSh = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static/bin/sh";

class FakeStore {
public:
    FakeStore();

    const StoreDir& store_dir() const { return store_dir_; }
    std::filesystem::path real_store_dir() const { return dir_.path() / "root/nix/store"; }
    std::filesystem::path scratch() const { return dir_.path() / "scratch"; }
    std::filesystem::path path() const { return dir_.path(); }
    StorePath busybox() const { return StorePath(kBusyboxBase); }

    /// `busybox sh -c <script>` as a derivation named `name` with `env` added and `outputs`, output
    /// paths filled in as Nix would.
    Derivation shell_derivation(const std::string& name, const std::string& script,
                                const std::map<std::string, std::string>& env = {},
                                const std::vector<std::string>& outputs = {"out"}) const;
    StorePath drv_path(const Derivation& drv) const;

    /// A job for `drv` whose input closure is busybox; the log goes to `log` when given.
    BuildJob job(const Derivation& drv, std::string* log = nullptr) const;

private:
    TempDir dir_;
    StoreDir store_dir_{"/nix/store"};
};

/// Runs `builder.build(job)` to completion on a fresh io_context; returns its outputs or rethrows.
std::unique_ptr<BuiltOutputs> run_build(Builder& builder, BuildJob& job);

/// The processes on this host whose command line contains `needle` (as one argument).
std::vector<pid_t> processes_with_argument(const std::string& needle);

} // namespace ferry::test
