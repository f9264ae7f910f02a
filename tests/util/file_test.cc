#include "ferry/util/file.hh"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ferry/util/error.hh"

using namespace ferry;
namespace fs = std::filesystem;

TEST(File, TempDirIsRemovedEvenWhenReadOnly) {
    fs::path kept;
    {
        TempDir dir;
        kept = dir.path();
        fs::create_directories(dir.path() / "a" / "b");
        write_file_atomic(dir.path() / "a" / "b" / "f", "x");
        ::chmod((dir.path() / "a" / "b").c_str(), 0555);
        ::chmod((dir.path() / "a").c_str(), 0555);
        EXPECT_EQ(read_file(dir.path() / "a" / "b" / "f"), "x");
    }
    EXPECT_FALSE(fs::exists(kept));
}

TEST(File, ReadMissingFileNamesIt) {
    try {
        read_file("/nonexistent/ferry-test");
        FAIL();
    } catch (const SysError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/ferry-test"), std::string::npos);
    }
}

TEST(Error, ContextIsPrependedOnOneLine) {
    Error e("hash mismatch");
    e.add_context("while substituting 'x'");
    e.add_context("while building 'y'");
    EXPECT_STREQ(e.what(), "while building 'y': while substituting 'x': hash mismatch");
}
