// Several ferry processes on one store, and a cache that fails (issue 13's concurrency and load tests).
// - Four processes realise overlapping closures from one server at once: each NAR is fetched once (the
//   path's lock is taken before its download; the others wait and find it valid), nobody fails with
//   "database is locked", and the store is consistent with every path valid.
// - One realise with 150 transfers at once against a server failing 20 % of its requests at random
//   (5xx, resets, truncations, 2 s stalls) completes with retries, its peak memory bounded; a path that
//   keeps failing fails the realise with one clear error naming it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "robust_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

/// Requests per path in the server's log, split into narinfos and NARs.
struct RequestCounts {
    std::map<std::string, int> narinfo, nar;
    size_t total = 0;
};

RequestCounts count_requests(const HttpServer& server) {
    RequestCounts c;
    for (const auto& r : server.request_log()) {
        ++c.total;
        if (r.path.ends_with(".narinfo")) ++c.narinfo[r.path];
        if (r.path.starts_with("/nar/")) ++c.nar[r.path];
    }
    return c;
}

int most(const std::map<std::string, int>& counts) {
    int m = 0;
    for (const auto& [_, n] : counts)
        m = std::max(m, n);
    return m;
}

} // namespace

TEST_F(RobustTest, FourProcessesFetchEachPathOnce) {
    std::string tag = "conc-" + std::to_string(::getpid());
    // Four trees of 1 + 6 + 36 + 216 paths and a shared one of 1 + 8 + 64: process i realises trees i
    // and i + 1 (mod 4) and the shared one.
    std::vector<SyntheticPath> all;
    std::vector<std::string> tops;
    for (int t = 0; t < 4; ++t) {
        auto tree = synthetic_tree(tag + "-" + std::to_string(t), 3, 6, 6);
        tops.push_back(StoreDir().print(tree.front().path));
        all.insert(all.end(), tree.begin(), tree.end());
    }
    auto shared = synthetic_tree(tag + "-shared", 2, 8, 8);
    all.insert(all.end(), shared.begin(), shared.end());
    serve(all);

    std::vector<pid_t> pids;
    for (int i = 0; i < 4; ++i)
        pids.push_back(start("p" + std::to_string(i),
                             {"realise", tops[i], tops[(i + 1) % 4], StoreDir().print(shared.front().path)}));
    for (int i = 0; i < 4; ++i) {
        auto w = wait_with_usage(pids[i]);
        auto err = err_of("p" + std::to_string(i));
        EXPECT_EQ(w.status, 0) << err;
        EXPECT_EQ(err.find("database is locked"), std::string::npos) << err;
        EXPECT_EQ(err.find("is busy"), std::string::npos) << err;
    }
    auto counts = count_requests(*server);
    EXPECT_EQ(counts.nar.size(), all.size());
    EXPECT_EQ(most(counts.nar), 1) << "a NAR was fetched more than once";
    size_t narinfos = 0;
    for (const auto& [_, n] : counts.narinfo)
        narinfos += n;
    EXPECT_EQ(valid_count(), all.size());
    for (const auto& l : leftovers(tag))
        ADD_FAILURE() << l;
    std::printf("4 processes, %zu paths: %zu NAR requests (at most %d per path), %zu narinfo requests for "
                "%zu narinfos (at most %d per path), %zu requests in all\n",
                all.size(), counts.nar.size(), most(counts.nar), narinfos, counts.narinfo.size(),
                most(counts.narinfo), counts.total);
}

TEST_F(RobustTest, RealiseCompletesAgainstACacheFailingOneRequestInFive) {
    std::string tag = "load-" + std::to_string(::getpid());
    // 1 + 30 + 900 paths of 64 kB each, so that transfers overlap.
    auto tree = synthetic_tree(tag, 2, 30, 30);
    for (auto& p : tree)
        p.contents += std::string(64 << 10, 'y');
    serve(tree);
    server->set_random_faults(0.2,
                              {HttpFault{.status = 500}, HttpFault{.status = 503},
                               HttpFault{.reset = HttpFault::Reset::before_headers},
                               HttpFault{.reset = HttpFault::Reset::mid_body}, HttpFault{.truncate_at = 100},
                               HttpFault{.delay = 2000ms}},
                              unsigned(::getpid()));
    std::string top = StoreDir().print(tree.front().path);
    std::vector<std::string> args{"--option",
                                  "http-connections",
                                  "150",
                                  "--option",
                                  "download-attempts",
                                  "8",
                                  "--option",
                                  "retry-base-delay-ms",
                                  "20",
                                  "realise",
                                  top};
    auto started = Clock::now();
    auto w = wait_with_usage(start("load", args));
    double took = std::chrono::duration<double>(Clock::now() - started).count();
    EXPECT_EQ(w.status, 0) << err_of("load");
    EXPECT_EQ(valid_count(), tree.size());
    for (const auto& l : leftovers(tag))
        ADD_FAILURE() << l;
    auto counts = count_requests(*server);
    std::set<std::string> distinct;
    for (const auto& r : server->request_log())
        distinct.insert(r.path);
    EXPECT_GT(server->faults(), 0u);
    EXPECT_LT(w.max_rss_kib, 200 * 1024) << "peak memory of the ferry process";
    std::printf(
        "%zu paths through a cache failing 20 %% of requests: %zu requests, %llu faults, %zu retries, "
        "peak %d in flight, ferry's peak RSS %.1f MiB, %.1f s\n",
        tree.size(), counts.total, (unsigned long long)server->faults(), counts.total - distinct.size(),
        server->peak_in_flight(), w.max_rss_kib / 1024.0, took);

    // A path whose NAR always fails: one clear error naming it.
    delete_path(root);
    server->clear_faults();
    auto broken = tree[5].path;
    auto narinfo = read_narinfo(narinfo_file(cache_dir, broken));
    server->set_fault("/" + narinfo.url, HttpFault{.status = 500});
    auto r = run_command(ferry_command(
        {"--option", "download-attempts", "3", "--option", "retry-base-delay-ms", "10", "realise", top}));
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(StoreDir().print(broken)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("500"), std::string::npos) << r.err;
    std::printf("a path that keeps failing: %s", r.err.c_str());
    for (const auto& l : leftovers(tag))
        ADD_FAILURE() << l;
}
