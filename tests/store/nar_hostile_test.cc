// NARs that try to reach outside their destination through symbolic links: a symlink to a directory
// outside, then an entry of the same name that would write through it (refused as a duplicate before
// anything is created under it), a symlink at the root, symlinks with `..` and absolute targets beside
// regular entries. The restorer creates each entry relative to its parent's descriptor with O_EXCL /
// mkdirat / symlinkat and never follows a link it made, so nothing appears outside the destination.
// (Names with '/', NUL, '.', '..' or empty, unsorted and duplicate names, huge lengths and truncation
// are the corpus of tests/data/nar, NarCorpus in nar_test.cc.)
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ferry/store/nar.hh"
#include "ferry/store/nar_restore.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

std::string str(std::string_view s) {
    std::string out(8, '\0');
    uint64_t n = s.size();
    for (int i = 0; i < 8; ++i)
        out[size_t(i)] = char((n >> (8 * i)) & 0xff);
    out += s;
    out.append((8 - s.size() % 8) % 8, '\0');
    return out;
}
std::string toks(std::initializer_list<std::string_view> xs) {
    std::string out;
    for (auto x : xs)
        out += str(x);
    return out;
}
std::string file(std::string_view contents) {
    return toks({"(", "type", "regular", "contents"}) + str(contents) + str(")");
}
std::string symlink(std::string_view target) {
    return toks({"(", "type", "symlink", "target"}) + str(target) + str(")");
}
/// A directory with `entries` in the order given (sorted or not: the caller decides).
std::string directory(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string out = toks({"(", "type", "directory"});
    for (const auto& [name, node] : entries)
        out += toks({"entry", "(", "name"}) + str(name) + str("node") + node + str(")");
    return out + str(")");
}
std::string nar(const std::string& root) {
    return str("nix-archive-1") + root;
}

/// Every path under `dir`, as "relative/path", sorted; symlinks are not followed.
std::vector<std::string> tree(const fs::path& dir) {
    std::vector<std::string> out;
    if (!fs::exists(fs::symlink_status(dir))) return out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it)
        out.push_back(it->path().lexically_relative(dir).string());
    std::sort(out.begin(), out.end());
    return out;
}

class NarHostile : public testing::Test {
protected:
    NarHostile() { fs::create_directory(outside); }
    std::string restore_error(const std::string& archive) {
        try {
            restore_nar(archive, dest);
            return "";
        } catch (const Error& e) {
            return e.what();
        }
    }
    TempDir tmp;
    fs::path outside = tmp.path() / "outside";
    fs::path dest = tmp.path() / "dest";
};

} // namespace

TEST_F(NarHostile, ASymlinkThenADirectoryOfTheSameNameWritesNothingThroughIt) {
    for (std::string target : {outside.string(), std::string("../outside"), std::string(".")}) {
        SCOPED_TRACE(target);
        std::string archive =
            nar(directory({{"l", symlink(target)}, {"l", directory({{"x", file("owned\n")}})}}));
        EXPECT_NE(restore_error(archive).find("duplicate entry 'l'"), std::string::npos)
            << restore_error(archive);
        EXPECT_TRUE(tree(outside).empty());
        EXPECT_FALSE(fs::exists(fs::symlink_status(dest))) << "a refused NAR left a partial tree";
    }
}

TEST_F(NarHostile, ASymlinkThenAFileOfTheSameNameIsRefused) {
    std::string archive =
        nar(directory({{"l", symlink((outside / "victim").string())}, {"l", file("overwritten\n")}}));
    write_file_atomic(outside / "victim", "untouched\n");
    EXPECT_NE(restore_error(archive).find("duplicate entry 'l'"), std::string::npos);
    EXPECT_EQ(read_file(outside / "victim"), "untouched\n");
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest)));
}

TEST_F(NarHostile, SymlinksOutOfTheTreeAreMadeAsTheyAreAndNeverFollowed) {
    // Valid NARs: the links exist (a store path may hold any link), the entries beside them are
    // created in the destination, and the outside stays empty.
    std::string archive = nar(directory({
        {"a", symlink("../outside")},
        {"b", symlink(outside.string())},
        {"c", directory({{"d", symlink("../../outside")}, {"e", file("in the tree\n")}})},
        {"f", file("also in the tree\n")},
    }));
    EXPECT_EQ(restore_error(archive), "");
    EXPECT_TRUE(tree(outside).empty());
    EXPECT_EQ(tree(dest), (std::vector<std::string>{"a", "b", "c", "c/d", "c/e", "f"}));
    EXPECT_EQ(fs::read_symlink(dest / "b"), outside);
    EXPECT_EQ(read_file(dest / "c" / "e"), "in the tree\n");
}

TEST_F(NarHostile, ARootSymlinkIsTheDestinationItself) {
    EXPECT_EQ(restore_error(nar(symlink(outside.string()))), "");
    EXPECT_TRUE(fs::is_symlink(dest));
    EXPECT_TRUE(tree(outside).empty());
    // Restoring again over it is refused (the destination exists), and writes nothing through it.
    EXPECT_NE(restore_error(nar(directory({{"x", file("through\n")}}))), "");
    EXPECT_TRUE(tree(outside).empty());
}
