#include "ferry/store/reference_scanner.hh"

#include <gtest/gtest.h>

using namespace ferry;

namespace {
const StorePath kA("jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");
const StorePath kB("m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text");
const StorePath kC("a26lm7bpwrazrrmrq64m8ljq28hbmpjk-dir-tree");
} // namespace

TEST(ReferenceScanner, FindsHashPartsAnywhere) {
    StorePathSet candidates{kA, kB, kC};
    std::string data = "#!/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static/bin/sh\n"
                       "echo a26lm7bpwrazrrmrq64m8ljq28hbmpjk\n";
    for (size_t chunk : {data.size(), size_t(1), size_t(5), size_t(31), size_t(32), size_t(33)}) {
        ReferenceScanner scanner(candidates);
        for (size_t i = 0; i < data.size(); i += chunk)
            scanner.feed(std::string_view(data).substr(i, chunk));
        EXPECT_EQ(scanner.found(), (StorePathSet{kA, kC})) << "chunk " << chunk;
    }
}

TEST(ReferenceScanner, IgnoresPartialAndOverlappingText) {
    ReferenceScanner scanner({kA, kB});
    scanner.feed("jsm9cyjvamk013ndqlj8ckgaqp3yrw2"); // 31 characters
    scanner.feed("-");
    scanner.feed("m3bcim6awl6bk3f8ifcpxbhb2lwgbll3"); // right after a hash-like run
    EXPECT_EQ(scanner.found(), (StorePathSet{kB}));
}

TEST(ReferenceScanner, HashInsideLongerNix32Run) {
    ReferenceScanner scanner({kB});
    scanner.feed("00m3bcim6awl6bk3f8ifcpxbhb2lwgbll300");
    EXPECT_EQ(scanner.found(), (StorePathSet{kB}));
}
