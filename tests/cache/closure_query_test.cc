// Closure queries against a synthetic cache served with a delay: how many requests run at once, and how
// many sequential round trips ("waves") a cold closure query costs, counted by the server.
#include "ferry/cache/closure_query.hh"

#include <algorithm>

#include <gtest/gtest.h>

#include "cache_env.hh"
#include "cache_support.hh"
#include "ferry/sched/local_store_view.hh"
#include "ferry/sched/worker.hh"
#include "support/http_server.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// Groups the server's requests into waves: a request arriving more than half a delay after the first
/// request of the current wave starts a new one. With every answer delayed by `delay`, a request that
/// needed an answer first arrives at least `delay` after the one it needed.
std::vector<std::vector<std::string>> waves(const std::vector<RequestRecord>& log,
                                            std::chrono::milliseconds delay) {
    std::vector<std::vector<std::string>> out;
    std::chrono::steady_clock::time_point start;
    for (const auto& r : log) {
        if (out.empty() || r.time - start > delay / 2) {
            out.emplace_back();
            start = r.time;
        }
        out.back().push_back(r.path);
    }
    return out;
}

std::string describe(const std::vector<std::vector<std::string>>& w) {
    std::string out;
    for (const auto& wave : w)
        out += std::to_string(wave.size()) + " ";
    return out;
}

class ClosureQueryTest : public testing::Test {
protected:
    /// Serves `tree` with every answer delayed by `delay`.
    void serve(const std::vector<SyntheticPath>& tree, std::chrono::milliseconds delay) {
        write_synthetic_cache(dir, tree, env.test_key, "none");
        server.set_default_fault({.delay = delay});
    }

    CacheEnv env;
    fs::path dir = env.tmp.path() / "cache";
    HttpServer server{dir};
};

TEST_F(ClosureQueryTest, FindsTheWholeClosureAndWhatIsMissing) {
    auto tree = synthetic_tree("find", 3, 4, 2); // 1 + 4 + 8 + 16 paths
    auto missing = synthetic_store_path("gone");
    tree[5].references.insert(missing);
    write_synthetic_cache(dir, tree, env.test_key, "none");
    auto cache = env.open(server.url("/"));
    ClosureInfos result = env.run(query_closure(*cache, {tree[0].path}, true));
    EXPECT_EQ(result.infos.size(), tree.size());
    for (const auto& p : tree)
        EXPECT_TRUE(result.infos.count(p.path)) << p.path.to_string();
    EXPECT_EQ(result.missing, StorePathSet{missing});
    ClosureInfos roots_only = env.run(query_closure(*cache, {tree[0].path, tree[1].path}, false));
    EXPECT_EQ(roots_only.infos.size(), 2u);
}

TEST_F(ClosureQueryTest, PeakConcurrencyIsHttpConnections) {
    // 1 + 100 + 200 paths: the level of 100 is more work than 20 connections can take at once.
    serve(synthetic_tree("peak", 2, 100, 2), 40ms);
    env.settings.http_connections = 20;
    auto cache = env.open(server.url("/"));
    auto tree_root = synthetic_tree("peak", 2, 100, 2)[0].path;
    ClosureInfos result = env.run(query_closure(*cache, {tree_root}, true));
    EXPECT_EQ(result.infos.size(), 301u);
    EXPECT_EQ(server.peak_in_flight(), 20);
}

TEST_F(ClosureQueryTest, WorkerQueryMissingKeepsToHttpConnectionsToo) {
    auto tree = synthetic_tree("worker", 2, 100, 2);
    serve(tree, 40ms);
    env.settings.http_connections = 20;
    auto cache = env.open(server.url("/"));
    Progress progress;
    LocalStoreView view(*env.store.store, env.pool);
    Worker worker(env.io, env.pool, view, {cache.get()}, nullptr, WorkerOptions{}, progress);
    std::vector<Target> targets{Target{tree[0].path, {}}};
    MissingPaths missing = env.run(worker.query_missing(targets));
    EXPECT_EQ(missing.will_substitute.size(), 301u);
    EXPECT_TRUE(missing.unknown.empty());
    EXPECT_EQ(server.peak_in_flight(), 20);
}

TEST_F(ClosureQueryTest, ColdClosureOfDepthDCostsDPlusOneRoundTrips) {
    const size_t depth = 5;
    auto tree = synthetic_tree("depth", depth, 3, 2); // widths 3, 6, 12, 24, 48
    const auto delay = 100ms;
    serve(tree, delay);
    auto cache = env.open(server.url("/")); // cold: nix-cache-info is only started
    ClosureInfos result = env.run(query_closure(*cache, {tree[0].path}, true));
    EXPECT_EQ(result.infos.size(), tree.size());
    auto w = waves(server.request_log(), delay);
    EXPECT_EQ(w.size(), depth + 1) << describe(w);
    // nix-cache-info goes out together with the root's narinfo, not before it.
    ASSERT_FALSE(w.empty());
    std::vector<std::string> first = w[0];
    std::sort(first.begin(), first.end());
    std::vector<std::string> expected{"/" + std::string(tree[0].path.hash_part()) + ".narinfo",
                                      "/nix-cache-info"};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(first, expected);
    for (size_t d = 1; d < w.size(); ++d)
        EXPECT_EQ(w[d].size(), 3u << (d - 1)) << "wave " << d;
}

TEST_F(ClosureQueryTest, WorkerRoundTripsAreDPlusOneToo) {
    const size_t depth = 4;
    auto tree = synthetic_tree("worker-depth", depth, 2, 2);
    const auto delay = 100ms;
    serve(tree, delay);
    auto cache = env.open(server.url("/"));
    Progress progress;
    LocalStoreView view(*env.store.store, env.pool);
    Worker worker(env.io, env.pool, view, {cache.get()}, nullptr, WorkerOptions{}, progress);
    std::vector<Target> targets{Target{tree[0].path, {}}};
    MissingPaths missing = env.run(worker.query_missing(targets));
    EXPECT_EQ(missing.will_substitute.size(), tree.size());
    auto w = waves(server.request_log(), delay);
    EXPECT_EQ(w.size(), depth + 1) << describe(w);
}

TEST_F(ClosureQueryTest, WarmClosureCostsNoRequestAtAll) {
    auto tree = synthetic_tree("warm", 3, 3, 3);
    serve(tree, 20ms);
    {
        auto cold = env.open(server.url("/"));
        EXPECT_EQ(env.run(query_closure(*cold, {tree[0].path}, true)).infos.size(), tree.size());
    }
    server.reset_stats();
    auto warm = env.open(server.url("/"));
    EXPECT_EQ(env.run(query_closure(*warm, {tree[0].path}, true)).infos.size(), tree.size());
    EXPECT_EQ(server.requests(), 0u);
}

} // namespace
