#include "ferry/store/sqlite.hh"

#include <gtest/gtest.h>

#include "ferry/util/file.hh"

using namespace ferry;

namespace {

struct SqliteTest : ::testing::Test {
    TempDir dir;
    Database db{dir.path() / "t.sqlite"};
    SqliteTest() { db.exec("create table T (k integer primary key, v text)"); }

    int64_t count() {
        auto stmt = db.prepare("select count(*) from T");
        auto q = stmt.use();
        EXPECT_TRUE(q.next());
        return q.get_int(0);
    }
};

} // namespace

TEST_F(SqliteTest, BindStepAndRead) {
    auto insert = db.prepare("insert into T (k, v) values (?, ?)");
    insert.use().bind(int64_t(1)).bind("one").run();
    insert.use().bind(int64_t(2)).bind_null().run();
    insert.use().bind(int64_t(3)).bind(std::optional<std::string>("three")).run();
    auto select = db.prepare("select k, v from T order by k");
    auto q = select.use();
    ASSERT_TRUE(q.next());
    EXPECT_EQ(q.get_int(0), 1);
    EXPECT_EQ(q.get_text(1), "one");
    ASSERT_TRUE(q.next());
    EXPECT_TRUE(q.is_null(1));
    ASSERT_TRUE(q.next());
    EXPECT_EQ(q.get_text(1), "three");
    EXPECT_FALSE(q.next());
}

TEST_F(SqliteTest, StatementIsReusableAfterAQueryEnds) {
    auto insert = db.prepare("insert into T (k, v) values (?, ?)");
    for (int64_t i = 0; i < 5; ++i)
        insert.use().bind(i).bind("x").run();
    EXPECT_EQ(count(), 5);
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
    auto insert = db.prepare("insert into T (k, v) values (?, ?)");
    {
        Transaction txn(db, Transaction::Mode::immediate);
        insert.use().bind(int64_t(1)).bind("a").run();
    }
    EXPECT_EQ(count(), 0);
    {
        Transaction txn(db);
        insert.use().bind(int64_t(1)).bind("a").run();
        txn.commit();
    }
    EXPECT_EQ(count(), 1);
}

TEST_F(SqliteTest, ErrorsNameTheFileAndTheReason) {
    try {
        db.exec("insert into T (k, v) values (1, 'a'); insert into T (k, v) values (1, 'b')");
        FAIL();
    } catch (const SqliteError& e) {
        EXPECT_EQ(e.code(), SQLITE_CONSTRAINT);
        std::string what = e.what();
        EXPECT_NE(what.find("t.sqlite"), std::string::npos) << what;
        EXPECT_NE(what.find("UNIQUE"), std::string::npos) << what;
    }
    EXPECT_THROW(db.prepare("select nonsense from"), SqliteError);
    EXPECT_THROW(Database(dir.path() / "missing" / "x.sqlite"), SqliteError);
}

TEST_F(SqliteTest, SecondConnectionTimesOutOnAHeldWriteLock) {
    db.exec("pragma journal_mode = wal");
    Database other(dir.path() / "t.sqlite");
    other.set_busy_timeout(std::chrono::milliseconds(50));
    Transaction txn(db, Transaction::Mode::immediate);
    try {
        Transaction second(other, Transaction::Mode::immediate);
        FAIL();
    } catch (const SqliteError& e) {
        EXPECT_EQ(e.code(), SQLITE_BUSY);
    }
    // Readers are not blocked by a writer under WAL.
    auto stmt = other.prepare("select count(*) from T");
    auto q = stmt.use();
    EXPECT_TRUE(q.next());
}
