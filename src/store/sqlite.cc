#include "ferry/store/sqlite.hh"

namespace ferry {

namespace {

std::string first_line(std::string_view sql) {
    auto s = sql.substr(0, sql.find('\n'));
    return std::string(s.substr(0, 80));
}

} // namespace

// --- Database -------------------------------------------------------------------------------------

Database::Database(const std::filesystem::path& path, bool create) : path_(path) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw SqliteError(rc, fmt::format("cannot open SQLite database '{}': {}", path.string(), reason));
    }
    sqlite3_extended_result_codes(db_, 0);
    // In WAL mode the last connection to close would delete the -wal and -shm files and the next
    // process would create them again: two file creations per command, milliseconds each on a
    // file system that has just deleted many inodes. They persist instead; the WAL is cut to
    // nothing at close (journal_size_limit >= 0) and to 64 MiB after checkpoints.
    int persist = 1;
    sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_exec(db_, "pragma journal_size_limit = 67108864", nullptr, nullptr, nullptr);
}

Database::~Database() {
    // Statements are finalised by their owners first; close_v2 tolerates stragglers.
    if (db_) sqlite3_close_v2(db_);
}

void Database::throw_error(int rc, std::string_view what) const {
    const char* reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_BUSY)
        throw SqliteError(SQLITE_BUSY,
                          fmt::format("SQLite database '{}' is busy (locked by another process) while {}",
                                      path_.string(), what));
    throw SqliteError(rc & 0xff,
                      fmt::format("SQLite error in '{}' while {}: {}", path_.string(), what, reason));
}

void Database::exec(const std::string& sql) {
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_error(rc, "executing '" + first_line(sql) + "'");
}

void Database::set_busy_timeout(std::chrono::milliseconds timeout) {
    int rc = sqlite3_busy_timeout(db_, static_cast<int>(timeout.count()));
    if (rc != SQLITE_OK) throw_error(rc, "setting the busy timeout");
}

int64_t Database::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_);
}

// --- Statement ------------------------------------------------------------------------------------

Statement::Statement(Database& db, std::string_view sql) : db_(&db), sql_(sql) {
    int rc = sqlite3_prepare_v2(db.handle(), sql_.data(), static_cast<int>(sql_.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK) db.throw_error(rc, "preparing '" + first_line(sql) + "'");
}

Statement::~Statement() {
    if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::operator=(Statement&& o) noexcept {
    if (this != &o) {
        if (stmt_) sqlite3_finalize(stmt_);
        db_ = o.db_;
        stmt_ = o.stmt_;
        sql_ = std::move(o.sql_);
        o.stmt_ = nullptr;
    }
    return *this;
}

Statement::Query Statement::use() {
    if (!stmt_) throw Error("using an unprepared SQLite statement");
    return Query(*this);
}

// --- Query ----------------------------------------------------------------------------------------

Statement::Query::~Query() {
    sqlite3_reset(stmt_->stmt_);
    sqlite3_clear_bindings(stmt_->stmt_);
}

void Statement::Query::check_bind(int rc) {
    if (rc != SQLITE_OK)
        stmt_->db_->throw_error(rc, "binding a parameter of '" + first_line(stmt_->sql_) + "'");
    ++next_param_;
}

Statement::Query& Statement::Query::bind(int64_t value) {
    check_bind(sqlite3_bind_int64(stmt_->stmt_, next_param_, value));
    return *this;
}

Statement::Query& Statement::Query::bind(std::string_view value) {
    check_bind(sqlite3_bind_text64(stmt_->stmt_, next_param_, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8));
    return *this;
}

Statement::Query& Statement::Query::bind_null() {
    check_bind(sqlite3_bind_null(stmt_->stmt_, next_param_));
    return *this;
}

bool Statement::Query::next() {
    int rc = sqlite3_step(stmt_->stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    stmt_->db_->throw_error(rc, "running '" + first_line(stmt_->sql_) + "'");
}

void Statement::Query::run() {
    while (next()) {
    }
}

int64_t Statement::Query::get_int(int column) {
    return sqlite3_column_int64(stmt_->stmt_, column);
}

std::string Statement::Query::get_text(int column) {
    auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_->stmt_, column));
    return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_->stmt_, column)))
                : std::string();
}

bool Statement::Query::is_null(int column) {
    return sqlite3_column_type(stmt_->stmt_, column) == SQLITE_NULL;
}

// --- Transaction ----------------------------------------------------------------------------------

Transaction::Transaction(Database& db, Mode mode) : db_(db) {
    db_.exec(mode == Mode::immediate ? "begin immediate" : "begin");
}

Transaction::~Transaction() {
    if (!active_) return;
    // Rolling back cannot usefully fail here; a failed rollback leaves SQLite to undo on close.
    sqlite3_exec(db_.handle(), "rollback", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    if (!active_) throw Error("committing a transaction that is already finished");
    db_.exec("commit");
    active_ = false;
}

} // namespace ferry
