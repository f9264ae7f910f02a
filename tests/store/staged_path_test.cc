#include "ferry/store/staged_path.hh"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

size_t entries(const fs::path& dir) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir))
        if (!is_staging_lock(e.path().filename().string())) ++n;
    return n;
}

} // namespace

TEST(StagedPath, DeletedUnlessCommitted) {
    TempDir staging;
    {
        StagedPath s(staging.path(), "x");
        EXPECT_FALSE(s.has_contents());
        fs::create_directories(s.path() / "a");
        write_file_atomic(s.path() / "a" / "f", "x");
        ::chmod((s.path() / "a").c_str(), 0555);
        EXPECT_TRUE(s.has_contents());
        EXPECT_EQ(entries(staging.path()), 1u);
    }
    EXPECT_EQ(entries(staging.path()), 0u);
}

TEST(StagedPath, CommitMovesContentsAndLeavesNothing) {
    TempDir staging, store;
    StagedPath s(staging.path(), "x");
    write_file_atomic(s.path(), "contents");
    s.commit(store.path() / "dest");
    EXPECT_TRUE(s.committed());
    EXPECT_EQ(read_file(store.path() / "dest"), "contents");
    EXPECT_EQ(entries(staging.path()), 0u);
}

TEST(StagedPath, CommitNeverReplaces) {
    TempDir staging, store;
    write_file_atomic(store.path() / "dest", "old");
    StagedPath s(staging.path(), "x");
    write_file_atomic(s.path(), "new");
    EXPECT_THROW(s.commit(store.path() / "dest"), SysError);
    EXPECT_EQ(read_file(store.path() / "dest"), "old");
    EXPECT_FALSE(s.committed());
    EXPECT_TRUE(s.has_contents());
}

TEST(StagedPath, CleanStaleKeepsLiveDirectories) {
    TempDir staging;
    fs::create_directories(staging.path() / "123-0-0-crashed" / "out" / "d");
    ::chmod((staging.path() / "123-0-0-crashed" / "out" / "d").c_str(), 0555);
    write_file_atomic(staging.path() / "stray-file", "x");
    StagedPath live(staging.path(), "live");
    write_file_atomic(live.path(), "x");
    EXPECT_EQ(clean_stale_staging(staging.path()), 2u);
    EXPECT_EQ(entries(staging.path()), 1u);
    EXPECT_TRUE(live.has_contents());
}
