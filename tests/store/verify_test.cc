// verify_store on real stores: each kind of damage gives its one line, a sound store none; contents
// swapped in by replace_path_contents put a damaged path right, wrong ones are refused.
#include "ferry/store/verify.hh"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "ferry/store/nar.hh"
#include "support/store_support.hh"

namespace fs = std::filesystem;

namespace ferry {
namespace {

struct VerifyTest : ::testing::Test {
    test::TempStore s;
    LocalStore& store = *s.store;
    fs::path src = s.dir.path() / "src";

    /// A tree path: a directory with two files.
    StorePath add_tree(const std::string& name) {
        fs::create_directories(src / name);
        write_file_atomic(src / name / "a", name + " a\n");
        write_file_atomic(src / name / "b", name + " b\n");
        return store.add_to_store(src / name, FileIngestionMethod::recursive, name);
    }
    std::vector<std::string> lines(bool contents = true) {
        std::vector<std::string> out;
        for (const auto& p : verify_store(store, {.check_contents = contents}).problems)
            out.push_back(p.message);
        return out;
    }
    std::string modified(const StorePath& p) {
        auto info = store.require_path_info(p);
        return "path '" + store.print(p) + "' was modified! expected hash '" +
               info.nar_hash.to_nix32_prefixed() + "', got '" +
               hash_path(HashAlgo::sha256, store.real_path(p)).hash.to_nix32_prefixed() + "'";
    }
    /// Makes a path's directory writable, to damage it as another program might.
    void writable(const StorePath& p) { fs::permissions(store.real_path(p), fs::perms::owner_all); }
};

TEST_F(VerifyTest, SoundStoreHasNoProblems) {
    auto a = add_tree("a");
    store.add_text("t", "refers to " + store.print(a), {a});
    auto report = verify_store(store, {.check_contents = true});
    EXPECT_TRUE(report.problems.empty());
    EXPECT_EQ(report.paths, 2u);
}

TEST_F(VerifyTest, DeletedFile) {
    auto a = add_tree("a");
    writable(a);
    fs::remove(store.real_path(a) / "b");
    EXPECT_TRUE(lines(false).empty()); // without --check-contents only existence is checked
    EXPECT_EQ(lines(), std::vector<std::string>{modified(a)});
}

TEST_F(VerifyTest, ModifiedFile) {
    auto a = add_tree("a");
    auto b = add_tree("b");
    writable(b);
    fs::permissions(store.real_path(b) / "a", fs::perms::owner_all);
    write_file_atomic(store.real_path(b) / "a", "changed\n");
    EXPECT_EQ(lines(), std::vector<std::string>{modified(b)});
    auto problem = verify_path(store, b, true);
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->kind, VerifyProblem::Kind::modified);
    EXPECT_FALSE(verify_path(store, a, true));
}

TEST_F(VerifyTest, MissingPath) {
    auto a = add_tree("a");
    delete_path(store.real_path(a));
    auto expected = std::vector<std::string>{"path '" + store.print(a) + "' disappeared"};
    EXPECT_EQ(lines(false), expected);
    EXPECT_EQ(lines(), expected);
}

TEST_F(VerifyTest, DanglingReference) {
    auto a = add_tree("a");
    auto t = store.add_text("t", "refers to " + store.print(a), {a});
    int64_t id = 0;
    {
        // Another program removes a's row with foreign keys off.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(s.config.db_file().c_str(), &db), SQLITE_OK);
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, ("select id from ValidPaths where path = '" + store.print(a) + "'").c_str(),
                           -1, &st, nullptr);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        ASSERT_EQ(sqlite3_exec(
                      db,
                      ("pragma foreign_keys = off; delete from ValidPaths where id = " + std::to_string(id))
                          .c_str(),
                      nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    EXPECT_EQ(lines(), std::vector<std::string>{"path '" + store.print(t) + "' refers to invalid path (row " +
                                                std::to_string(id) + " of the database is gone)"});
}

TEST_F(VerifyTest, ReplaceContentsRepairsAndRefusesOtherContents) {
    auto a = add_tree("a");
    writable(a);
    fs::remove(store.real_path(a) / "b");
    ASSERT_EQ(lines().size(), 1u);

    // Other contents: refused, nothing changes.
    auto wrong = store.stage("a");
    fs::create_directories(wrong.path());
    write_file_atomic(wrong.path() / "a", "not it\n");
    EXPECT_THROW(replace_path_contents(store, a, wrong), HashMismatch);
    EXPECT_EQ(lines().size(), 1u);

    // The right contents, as a fetch would stage them: swapped in.
    auto right = store.stage("a");
    fs::create_directories(right.path());
    write_file_atomic(right.path() / "a", "a a\n");
    write_file_atomic(right.path() / "b", "a b\n");
    replace_path_contents(store, a, right);
    EXPECT_TRUE(lines().empty());
    EXPECT_TRUE(store.is_valid_path(a));

    // A path whose files are gone gets them back.
    delete_path(store.real_path(a));
    auto again = store.stage("a");
    fs::create_directories(again.path());
    write_file_atomic(again.path() / "a", "a a\n");
    write_file_atomic(again.path() / "b", "a b\n");
    replace_path_contents(store, a, again);
    EXPECT_TRUE(lines().empty());
}

} // namespace
} // namespace ferry
