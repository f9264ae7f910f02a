// ServeConnection: the serve protocol's client shell over a child's pipes.

#include "ferry/remote/serve_connection.hh"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;

namespace ferry {

namespace {
constexpr size_t kTailBytes = 4096;
constexpr size_t kReadChunk = 64 * 1024; // of standard error

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    for (auto& c : s)
        if (c == '\n') c = ' ';
    return s;
}
} // namespace

struct ServeConnection::ErrReader {
    explicit ErrReader(asio::any_io_executor ex, int fd) : err(ex, fd) {
        boost::system::error_code ec;
        err.non_blocking(true, ec); // read only what is there: after a readiness wait, and in flush_log()
    }
    asio::posix::stream_descriptor err;
    std::string tail;
    bool closed = false;
    bool reading = false;
    unsigned generation = 0; ///< of the reader that may run
    std::function<void(std::string_view)> log;
    std::string chunk = std::string(kReadChunk, '\0');

    /// Reads what the pipe holds now into the log (or the tail); false once it is closed or failed.
    bool drain() {
        while (!closed) {
            boost::system::error_code ec;
            size_t n = err.read_some(asio::buffer(chunk), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
            if (ec || n == 0) {
                closed = true;
                break;
            }
            std::string_view got(chunk.data(), n);
            if (log) {
                log(got);
            } else {
                tail.append(got);
                if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
            }
        }
        return !closed;
    }
};

ServeConnection::ServeConnection(asio::any_io_executor ex, std::vector<std::string> argv, std::string machine)
    : ex_(ex), machine_(std::move(machine)), command_(shell_quote_command(argv)) {
    try {
        child_ = std::make_unique<PipedChild>(argv);
    } catch (const Error& e) {
        throw MachineDown("cannot connect to '{}': {}", machine_, e.what());
    }
    stream_ = std::make_unique<ServeStream>(ex, std::move(child_->out), std::move(child_->in));
    err_ = std::make_shared<ErrReader>(ex, child_->err.release());
}

ServeConnection::~ServeConnection() {
    boost::system::error_code ec;
    stream_->close();
    err_->err.close(ec); // the reader's pending read ends with operation_aborted
    err_->log = nullptr;
    if (child_) child_->terminate();
}

asio::awaitable<std::shared_ptr<ServeConnection>>
ServeConnection::open(asio::any_io_executor ex, std::vector<std::string> argv, std::string machine) {
    std::shared_ptr<ServeConnection> conn(new ServeConnection(ex, std::move(argv), std::move(machine)));
    conn->start_reading();
    co_await conn->handshake();
    co_return conn;
}

asio::awaitable<void> ServeConnection::handshake() {
    std::string hello = serve::encode_client_hello();
    co_await send(std::move(hello));
    auto version = co_await receive([](std::string_view d) { return serve::decode_server_hello(d); });
    try {
        serve::check_server_version(version);
    } catch (const ProtocolError& e) {
        fail(e.what());
    }
    remote_version_ = version;
}

void ServeConnection::start_reading() {
    if (err_->reading || err_->closed) return;
    err_->reading = true;
    asio::co_spawn(ex_, read_stderr(err_, ++err_->generation), asio::detached);
}

void ServeConnection::stop_reading() {
    if (!err_->reading) return;
    err_->reading = false;
    boost::system::error_code ec;
    err_->err.cancel(ec);
}

void ServeConnection::set_log(std::function<void(std::string_view)> log) {
    err_->log = std::move(log);
}

void ServeConnection::flush_log() {
    if (err_->err.is_open()) err_->drain();
}

asio::awaitable<void> ServeConnection::read_stderr(std::shared_ptr<ErrReader> err, unsigned generation) {
    // Readiness, then a read of our own: no bytes ever wait in a completed read for a log that has
    // changed meanwhile (flush_log() takes them straight from the pipe). The pipe is emptied before each
    // wait: a wait (edge-triggered) sees only what arrives after it starts.
    for (;;) {
        if (!err->drain()) break;
        boost::system::error_code ec;
        co_await err->err.async_wait(asio::posix::descriptor_base::wait_read,
                                     asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return; // stop_reading(), or destroyed
        if (ec) {
            err->closed = true;
            break;
        }
        if (generation != err->generation || !err->reading) co_return;
    }
    if (generation == err->generation) err->reading = false;
}

asio::awaitable<void> ServeConnection::send(std::string bytes) {
    std::exception_ptr error;
    try {
        co_await stream_->send(std::move(bytes));
        co_return;
    } catch (...) {
        good_ = false; // see receive()
        error = std::current_exception();
    }
    co_await failed(error, "cannot write to '" + command_ + "'");
}

asio::awaitable<void> ServeConnection::await_input() {
    std::exception_ptr error;
    try {
        if (co_await stream_->more()) co_return;
        error = std::make_exception_ptr(EndOfInput("unexpected end of input"));
    } catch (...) {
        error = std::current_exception();
    }
    good_ = false; // see receive()
    co_await failed(error, "");
}

asio::awaitable<void> ServeConnection::failed(std::exception_ptr error, std::string_view doing) {
    good_ = false;
    std::string what;
    bool gone = false;
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw; // cancelled: as it is
        what = e.code().message();
        gone = true;
    } catch (const EndOfInput&) {
        what = "unexpected end of its output";
        gone = true;
    } catch (const Error& e) {
        what = e.what();
    }
    if (!doing.empty()) what = std::string(doing) + ": " + what;
    if (gone) {
        co_await await_last_words();
        if (!stream_->buffered().empty() && remote_version_ == 0)
            what = fmt::format("'nix-store --serve' protocol mismatch, got '{}'",
                               trimmed(std::string(stream_->buffered())));
    }
    fail(what);
}

asio::awaitable<void> ServeConnection::await_last_words() {
    asio::steady_timer timer(ex_);
    for (int i = 0; i < 20 && !err_->closed; ++i) {
        timer.expires_after(std::chrono::milliseconds(50));
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void ServeConnection::fail(std::string_view what) {
    good_ = false;
    std::string last = trimmed(err_->tail);
    if (last.empty()) throw MachineDown("machine '{}': {}", machine_, what);
    throw MachineDown("machine '{}': {} ({})", machine_, what, last);
}

void ServeConnection::write_blocking(std::string_view bytes) {
    try {
        stream_->write_blocking(bytes);
    } catch (const boost::system::system_error& e) {
        good_ = false;
        throw MachineDown("machine '{}': cannot write to '{}': {}", machine_, command_, e.code().message());
    }
}

void ServeConnection::read_nar_blocking(HashingNarParser& parser) {
    try {
        stream_->read_until_blocking([&](std::string_view chunk) { return parser.consume(chunk); },
                                     [&] { return parser.done(); });
    } catch (const EndOfInput&) {
        good_ = false;
        throw MachineDown("machine '{}': the NAR ended early", machine_);
    } catch (const boost::system::system_error& e) {
        good_ = false;
        throw MachineDown("machine '{}': the NAR ended early: {}", machine_, e.code().message());
    } catch (...) {
        good_ = false; // the rest of the archive is still in the pipe
        throw;
    }
}

} // namespace ferry
