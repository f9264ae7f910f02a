#pragma once
/// A temporary store for sandbox tests: `<tmp>/root/nix/store` with the fixtures' busybox path restored
/// from its NAR (`bin/busybox`, `bin/sh -> busybox`), scratch space beside it, and helpers that make
/// busybox-sh derivations and run builds on a private io_context.

#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ferry/sandbox/build_user.hh"
#include "ferry/sandbox/sandbox_options.hh"
#include "ferry/sched/builder.hh"
#include "ferry/store/derivation.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"

namespace ferry::test {

inline constexpr const char* kBusyboxBase = "jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";
inline constexpr const char* kBusyboxSh = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static/bin/sh";

class FakeStore {
public:
    /// `store_dir`: the logical store dir (its files are under `<tmp>/root<store_dir>` all the same).
    explicit FakeStore(const std::string& store_dir = "/nix/store");

    const StoreDir& store_dir() const { return store_dir_; }
    std::filesystem::path real_store_dir() const { return dir_.path() / ("root" + store_dir_.dir()); }
    /// `<store dir>/<busybox>/bin/sh`.
    std::string busybox_sh() const { return store_dir_.dir() + "/" + kBusyboxBase + "/bin/sh"; }
    std::filesystem::path scratch() const { return dir_.path() / "scratch"; }
    /// Where builds of builder() make their build directories.
    std::filesystem::path tmp() const { return dir_.path() / "tmp"; }
    /// Sandbox options with build directories in tmp().
    SandboxOptions options() const;
    /// Whether no build left anything in scratch() (but the staging lock) or tmp().
    bool clean() const;
    std::filesystem::path path() const { return dir_.path(); }
    StorePath busybox() const { return StorePath(kBusyboxBase); }

    /// `busybox sh -c <script>` as a derivation named `name` with `env` added and `outputs`, output
    /// paths filled in as Nix would.
    Derivation shell_derivation(const std::string& name, const std::string& script,
                                const std::map<std::string, std::string>& env = {},
                                const std::vector<std::string>& outputs = {"out"}) const;
    /// A flat sha256 fixed-output derivation whose output must be `content`.
    Derivation fixed_output_derivation(const std::string& name, const std::string& script,
                                       const std::string& content) const;
    StorePath drv_path(const Derivation& drv) const;

    /// A job for `drv` whose input closure is busybox; the log goes to `log` when given. Its timeout is
    /// 60 s, so no test can hang.
    BuildJob job(const Derivation& drv, std::string* log = nullptr) const;

private:
    /// Sets "outputs" (several outputs) and fills in the output paths.
    void finish(Derivation& drv, const std::vector<std::string>& outputs) const;

    TempDir dir_;
    StoreDir store_dir_;
};

/// A TCP socket listening on the host's 127.0.0.1 at a port the kernel picks.
class HostListener {
public:
    HostListener();
    uint16_t port() const { return port_; }
    /// Accepts a pending connection without waiting and returns what the peer sent (up to end of
    /// file or 1 s); std::nullopt when nobody connected.
    std::optional<std::string> accept_now();
    /// Waits up to `seconds` in another thread for one connection and returns what the peer sent until
    /// it shut down its side (the connection is then closed); "" when nobody connected.
    std::future<std::string> serve_once(int seconds);

private:
    UniqueFd fd_;
    uint16_t port_ = 0;
};

/// A job for `drv` in a LocalStore's layout; `closure` is what the builder may read.
BuildJob store_job(const LocalStore& store, const StorePath& drv_path, const Derivation& drv,
                   StorePathSet closure, const std::filesystem::path& scratch);

/// Runs `builder.build(job)` to completion on a fresh io_context; returns its outputs or rethrows.
std::unique_ptr<BuiltOutputs> run_build(Builder& builder, BuildJob& job);

/// As root: a group (with `members` users in it, named after this process) made with groupadd/useradd
/// for one test and removed on destruction, so builds can run as its build users.
class TestBuildUsers {
public:
    explicit TestBuildUsers(int members = 0);
    ~TestBuildUsers();
    TestBuildUsers(const TestBuildUsers&) = delete;

    const std::string& group() const { return group_; }
    gid_t gid() const { return gid_; }
    const std::vector<uid_t>& uids() const { return uids_; }
    /// Options that use this group: auto-allocated uids (`auto_allocate`) in its gid, or its members.
    BuildUserOptions options(bool auto_allocate) const;

private:
    std::string group_;
    gid_t gid_ = 0;
    std::vector<std::string> users_;
    std::vector<uid_t> uids_;
};

/// Runs a command through the shell, retrying a few times when it fails (useradd and groupadd fail while
/// another process holds /etc/passwd's lock). Returns whether it succeeded.
bool run_retrying(const std::string& command);

/// The processes on this host whose command line contains `needle` (as one argument).
std::vector<pid_t> processes_with_argument(const std::string& needle);

} // namespace ferry::test
