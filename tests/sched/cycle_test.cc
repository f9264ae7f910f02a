// find_cycle and the message of a cycle.
#include "ferry/sched/cycle.hh"

#include <map>

#include <gtest/gtest.h>

using namespace ferry;

namespace {

StorePath path(char c) {
    return StorePath(std::string(32, c) + "-" + std::string(1, c));
}

/// Edges "ab bc" → a→b, b→c.
SuccessorsFn edges(std::map<StorePath, std::vector<StorePath>>& graph, const std::string& spec) {
    for (size_t i = 0; i + 1 < spec.size(); i += 3)
        graph[path(spec[i])].push_back(path(spec[i + 1]));
    return [&graph](const StorePath& n, const std::function<void(const StorePath&)>& add) {
        for (const auto& s : graph[n])
            add(s);
    };
}

} // namespace

TEST(CycleTest, NoCycleInADagOrThroughSelfReferences) {
    std::map<StorePath, std::vector<StorePath>> g;
    auto fn = edges(g, "ab ac bd cd dd");
    EXPECT_TRUE(find_cycle({path('a'), path('b'), path('c'), path('d')}, fn).empty());
}

TEST(CycleTest, FindsACycleAndNamesItLikeNix) {
    std::map<StorePath, std::vector<StorePath>> g;
    auto fn = edges(g, "ab bc cd db");
    auto cycle = find_cycle({path('a'), path('b'), path('c'), path('d')}, fn);
    ASSERT_EQ(cycle.size(), 4u);
    EXPECT_EQ(cycle.front(), cycle.back());
    for (size_t i = 0; i + 1 < cycle.size(); ++i) {
        auto& next = g[cycle[i]];
        EXPECT_NE(std::find(next.begin(), next.end(), cycle[i + 1]), next.end()) << "an edge";
    }
    // Paths outside the set do not count.
    EXPECT_TRUE(find_cycle({path('a'), path('b'), path('c')}, fn).empty());

    StoreDir dir;
    std::string two = CycleError(dir, {path('a'), path('b'), path('a')}).what();
    EXPECT_EQ(two, "cycle detected in the references of '" + dir.print(path('a')) + "' from '" +
                       dir.print(path('b')) + "'");
    std::string three = CycleError(dir, {path('a'), path('b'), path('c'), path('a')}).what();
    EXPECT_EQ(three, "cycle detected in the references of '" + dir.print(path('a')) + "' from '" +
                         dir.print(path('c')) + "'; the cycle: '" + dir.print(path('a')) + "' -> '" +
                         dir.print(path('b')) + "' -> '" + dir.print(path('c')) + "' -> '" +
                         dir.print(path('a')) + "'");
}
