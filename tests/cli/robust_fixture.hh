#pragma once
/// What the robustness tests share (crash, full disk, concurrency, load, build logs): a temporary store,
/// a synthetic signed binary cache served from 127.0.0.1, busybox derivations, `ferry realise` as a
/// separate process with its peak memory, and the checks of what a killed or failed run may leave.

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../cache/cache_support.hh"
#include "cli_fixture.hh"
#include "support/http_server.hh"

namespace ferry::test {

/// How a process ended, with its peak resident memory (wait4's ru_maxrss).
struct Waited {
    int status = -1; ///< exit code, or 128 + signal
    long max_rss_kib = 0;
};

/// Waits for `pid` (bounded: SIGKILL after `limit_s` seconds).
Waited wait_with_usage(pid_t pid, int limit_s = 600);

/// What `ferry store verify` printed: the leftovers of processes that no longer run (deleted by its
/// start-up clean-up: not errors) and every other line (a problem).
struct VerifyOutput {
    int status = -1;
    std::vector<std::string> stale, problems;
};

/// How leftovers() checks the store itself.
enum class StoreCheck {
    /// tests/support/store_check after a LocalStore's start-up clean-up.
    store_problems,
    /// `ferry store verify --check-contents` (the binary): exit 0 and no problem line; then `ferry store
    /// verify` again, which must print nothing (its predecessor's clean-up left nothing behind).
    verify_command,
};

/// Busybox (imported), a synthetic cache under tmp/cache served by `server`, TMPDIR of the ferry
/// processes at tmp/build-tmp (where their build directories go), and their narinfo disk cache at
/// tmp/xdg-cache.
struct RobustTest : CliTest {
    RobustTest();
    ~RobustTest() override;

    /// Writes the cache (NARs uncompressed: a fast server) and starts the server.
    void serve(const std::vector<SyntheticPath>& paths);
    /// `--store ROOT` (or `store_root`), the substituter and its key, fresh narinfo lookups, then `args`.
    std::vector<std::string> ferry_command(const std::vector<std::string>& args,
                                           const std::filesystem::path& store_root = {}) const;
    /// Starts ferry with `args` (ferry_command()), output to tmp/NAME.out and tmp/NAME.err.
    pid_t start(const std::string& name, const std::vector<std::string>& args,
                const std::filesystem::path& store_root = {});
    /// The output written so far by the run started as `name`.
    std::string err_of(const std::string& name) const;

    /// What must not be left in the store at `store_root` (root when empty) once a run is over and the
    /// next one has started (its start-up clean-up done): inconsistencies (store_problems), build
    /// directories under TMPDIR, lock files, mounts under the store's root or TMPDIR, processes carrying
    /// `tag` in their environment.
    std::vector<std::string> leftovers(const std::string& tag, const std::filesystem::path& store_root = {},
                                       StoreCheck how = StoreCheck::store_problems);
    /// Runs `ferry store verify` (with --check-contents when `contents`) on the store at `store_root`.
    VerifyOutput verify(bool contents, const std::filesystem::path& store_root = {});
    /// Leftovers of dead processes that the verify_command checks of leftovers() listed so far.
    size_t stale_reported = 0;
    /// Time spent in the `store verify --check-contents` runs of leftovers(), and their number.
    double verify_seconds = 0;
    int verify_runs = 0;
    /// Number of valid paths in the store at `store_root`.
    size_t valid_count(const std::filesystem::path& store_root = {}) const;

    SecretKey key = SecretKey::generate("ferry-robust-test-1");
    std::filesystem::path cache_dir = tmp.path() / "cache";
    std::filesystem::path build_tmp = tmp.path() / "build-tmp";
    std::unique_ptr<HttpServer> server;
};

/// Busybox derivations `<tag>-<i>` for i < n, each running `script` (after `$bb/busybox sleep SECONDS`
/// when `seconds` is not empty) with the environment variable FERRY_ROBUST_TAG=tag; returns the files.
std::vector<std::string> tagged_derivations(const std::filesystem::path& dir, const std::string& tag, int n,
                                            const std::string& script, const std::string& seconds = "");

} // namespace ferry::test
