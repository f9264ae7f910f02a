#pragma once
/// A small RAII layer over SQLite: a connection, prepared statements with scoped use, and transactions.
///
/// Threading: a Database and its Statements belong to one thread at a time; callers that share them
/// between threads serialise access themselves (LocalStore holds a mutex). Distinct connections, in
/// one process or several, may use the same file concurrently (WAL mode, busy timeout).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/util/error.hh"

namespace ferry {

/// An SQLite call failed. The message names the database file, the operation and SQLite's reason.
class SqliteError : public Error {
public:
    SqliteError(int code, std::string message) : Error(std::move(message)), code_(code) {}
    /// The primary SQLite result code (SQLITE_BUSY, SQLITE_CONSTRAINT, ...).
    int code() const noexcept { return code_; }

private:
    int code_;
};

class Database;

/// A prepared statement owned by its Database's connection; finalised on destruction. Movable, not
/// copyable; must not outlive the Database.
class Statement {
public:
    class Query;

    Statement() = default;
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
        o.stmt_ = nullptr;
    }
    Statement& operator=(Statement&& o) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    /// Starts one execution: bind parameters on the returned Query, then step it. Only one Query of a
    /// statement may be alive at a time; it resets the statement when destroyed.
    Query use();

private:
    Database* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

/// One execution of a Statement: binds parameters in order (1, 2, ...), steps through rows, reads
/// columns. Resets and clears the bindings of its statement when destroyed.
class Statement::Query {
public:
    explicit Query(Statement& stmt) : stmt_(&stmt) {}
    ~Query();
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    Query& bind(int64_t value);
    Query& bind(std::string_view value);
    Query& bind(const char* value) { return bind(std::string_view(value)); }
    Query& bind(const std::string& value) { return bind(std::string_view(value)); }
    Query& bind_null();
    /// Binds the value, or NULL when it is empty.
    Query& bind(const std::optional<std::string>& value) { return value ? bind(*value) : bind_null(); }

    /// Steps once; true when a row is available. Throws SqliteError (SQLITE_BUSY after the busy
    /// timeout, constraint violations, ...).
    bool next();
    /// Steps to completion, ignoring rows.
    void run();

    int64_t get_int(int column);
    std::string get_text(int column);
    bool is_null(int column);

private:
    void check_bind(int rc);

    Statement* stmt_;
    int next_param_ = 1;
};

/// An open SQLite connection; closed on destruction.
class Database {
public:
    /// Opens (creating when `create`) the database file at `path`. Throws SqliteError.
    explicit Database(const std::filesystem::path& path, bool create = true);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs one or more statements that return no rows.
    void exec(const std::string& sql);
    Statement prepare(std::string_view sql) { return Statement(*this, sql); }
    /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
    void set_busy_timeout(std::chrono::milliseconds timeout);
    int64_t last_insert_rowid() const;

    sqlite3* handle() const noexcept { return db_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    /// Throws SqliteError for `rc` (not SQLITE_OK/ROW/DONE), naming `what` and the file.
    [[noreturn]] void throw_error(int rc, std::string_view what) const;

private:
    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
};

/// A transaction, rolled back on destruction unless committed. Not nestable.
class Transaction {
public:
    enum class Mode { deferred, immediate };

    /// Begins a transaction. `immediate` takes the write lock at once, which is what write
    /// transactions want under WAL (a deferred one that later writes can fail with SQLITE_BUSY
    /// without waiting).
    explicit Transaction(Database& db, Mode mode = Mode::deferred);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();

private:
    Database& db_;
    bool active_ = true;
};

} // namespace ferry
