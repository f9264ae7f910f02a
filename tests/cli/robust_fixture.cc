#include "robust_fixture.hh"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "ferry/store/local_store.hh"
#include "ferry/store/sqlite.hh"
#include "support/fixtures.hh"
#include "support/store_check.hh"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace ferry::test {

Waited wait_with_usage(pid_t pid, int limit_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s);
    int raw = 0;
    rusage usage{};
    for (;;) {
        pid_t r = ::wait4(pid, &raw, WNOHANG, &usage);
        if (r == pid) break;
        if (r < 0) return {};
        if (std::chrono::steady_clock::now() > deadline) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(2ms);
    }
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), usage.ru_maxrss};
}

RobustTest::RobustTest() {
    for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"})
        ::unsetenv(name);
    fs::create_directories(build_tmp);
    ::setenv("TMPDIR", build_tmp.c_str(), 1);
    ::setenv("XDG_CACHE_HOME", (tmp.path() / "xdg-cache").c_str(), 1);
}

RobustTest::~RobustTest() {
    server.reset();
    ::unsetenv("TMPDIR");
}

void RobustTest::serve(const std::vector<SyntheticPath>& paths) {
    write_synthetic_cache(cache_dir, paths, key, "none");
    server = std::make_unique<HttpServer>(cache_dir);
}

std::vector<std::string> RobustTest::ferry_command(const std::vector<std::string>& args,
                                                   const fs::path& store_root) const {
    std::string url = server ? server->url("/") : "";
    if (!url.empty()) url.pop_back();
    std::vector<std::string> cmd{(build_root() / "src" / "cli" / "ferry").string(),
                                 "--store",
                                 (store_root.empty() ? root : store_root).string(),
                                 "--option",
                                 "substituters",
                                 url,
                                 "--option",
                                 "trusted-public-keys",
                                 key.public_key().to_string()};
    for (const char* ttl :
         {"narinfo-cache-positive-ttl", "narinfo-cache-negative-ttl", "narinfo-cache-meta-ttl"})
        cmd.insert(cmd.end(), {"--option", ttl, "0"});
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
}

pid_t RobustTest::start(const std::string& name, const std::vector<std::string>& args,
                        const fs::path& store_root) {
    return spawn_command(ferry_command(args, store_root), "/dev/null", tmp.path() / (name + ".out"),
                         tmp.path() / (name + ".err"));
}

std::string RobustTest::err_of(const std::string& name) const {
    std::error_code ec;
    if (!fs::exists(tmp.path() / (name + ".err"), ec)) return "";
    return read_file(tmp.path() / (name + ".err"));
}

VerifyOutput RobustTest::verify(bool contents, const fs::path& store_root) {
    std::vector<std::string> args{"store", "verify"};
    if (contents) args.push_back("--check-contents");
    auto r = run_command(ferry_command(args, store_root));
    VerifyOutput v{r.status, {}, {}};
    std::istringstream lines(r.out + r.err);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        bool stale =
            line.find("that no longer runs (deleted by the start-up clean-up)") != std::string::npos ||
            line.find("that no process holds (deleted by the start-up clean-up)") != std::string::npos;
        (stale ? v.stale : v.problems).push_back(line);
    }
    return v;
}

std::vector<std::string> RobustTest::leftovers(const std::string& tag, const fs::path& store_root,
                                               StoreCheck how) {
    StoreConfig c{.store_dir = "/nix/store", .root = store_root.empty() ? root : store_root};
    std::vector<std::string> found;
    // The builders of a killed ferry die with it (their parent-death signal): give them a moment.
    for (int i = 0; i < 150 && !tag.empty() && !processes_with_env("FERRY_ROBUST_TAG=" + tag).empty(); ++i)
        std::this_thread::sleep_for(20ms);
    if (how == StoreCheck::verify_command && fs::exists(c.db_file())) {
        auto started = std::chrono::steady_clock::now();
        auto first = verify(true, store_root); // lists what the killed run left; its start-up deletes it
        verify_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        ++verify_runs;
        stale_reported += first.stale.size();
        if (first.status != 0)
            found.push_back("store verify --check-contents: exit " + std::to_string(first.status));
        for (auto& p : first.problems)
            found.push_back("store verify --check-contents: " + p);
        auto second = verify(false, store_root);
        if (second.status != 0) found.push_back("store verify again: exit " + std::to_string(second.status));
        for (auto& l : second.stale)
            found.push_back("store verify again: " + l);
        for (auto& p : second.problems)
            found.push_back("store verify again: " + p);
    } else {
        if (fs::exists(c.db_file())) {
            LocalStore opened(c); // a next run's start-up clean-up
        }
        for (auto& p : store_problems(c))
            found.push_back(std::move(p));
    }
    for (const auto& e : fs::directory_iterator(build_tmp))
        found.push_back(e.path().string() + ": left in TMPDIR");
    if (fs::exists(c.locks_dir()))
        for (const auto& e : fs::directory_iterator(c.locks_dir()))
            found.push_back(e.path().string() + ": lock file left");
    std::ifstream mounts("/proc/self/mountinfo");
    for (std::string line; std::getline(mounts, line);)
        for (const auto& dir : {c.effective_root(), build_tmp})
            if (line.find(" " + dir.string()) != std::string::npos) found.push_back("mount left: " + line);
    if (!tag.empty())
        for (int pid : processes_with_env("FERRY_ROBUST_TAG=" + tag))
            found.push_back("process left: " + std::to_string(pid));
    return found;
}

size_t RobustTest::valid_count(const fs::path& store_root) const {
    StoreConfig c{.store_dir = "/nix/store", .root = store_root.empty() ? root : store_root};
    if (!fs::exists(c.db_file())) return 0;
    Database db(c.db_file(), false);
    Statement count(db, "select count(*) from ValidPaths");
    auto q = count.use();
    return q.next() ? size_t(q.get_int(0)) : 0;
}

std::vector<std::string> tagged_derivations(const fs::path& dir, const std::string& tag, int n,
                                            const std::string& script, const std::string& seconds) {
    fs::create_directories(dir);
    std::vector<std::string> files;
    std::string prefix = seconds.empty() ? "" : "$bb/busybox sleep " + seconds + "; ";
    for (int i = 0; i < n; ++i)
        files.push_back(busybox_derivation(dir, tag + "-" + std::to_string(i), prefix + script,
                                           {{"FERRY_ROBUST_TAG", tag}}));
    return files;
}

} // namespace ferry::test
