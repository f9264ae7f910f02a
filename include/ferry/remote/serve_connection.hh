#pragma once
/// One connection to a serve-protocol server: a child process (ssh running `nix-store --serve --write`
/// on the machine, or anything speaking the protocol on its standard input and output) driven by Asio
/// through its pipes (a ServeStream). The child's standard error is read while the connection is in use:
/// during a build it is the build's log (set_log()), otherwise its end is kept for error messages.
///
/// Every failure of the transport (the child exits, end of file, garbage, a wrong magic, an unsupported
/// version) is MachineDown naming the machine; the connection is then no longer good().
///
/// Threading: the awaitable members run on the loop thread; the *_blocking members run on a pool
/// thread while the loop does not use the connection (the caller holds it exclusively).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "ferry/remote/piped_child.hh"
#include "ferry/remote/serve_protocol.hh"
#include "ferry/remote/serve_stream.hh"
#include "ferry/sched/build_machine.hh"
#include "ferry/store/nar.hh"

namespace ferry {

class ServeConnection : public std::enable_shared_from_this<ServeConnection> {
public:
    /// Starts `argv`, then exchanges the greeting (our 2.7, theirs at least 2.2). Throws MachineDown
    /// naming `machine` (with the end of the child's standard error when it died).
    static boost::asio::awaitable<std::shared_ptr<ServeConnection>>
    open(boost::asio::any_io_executor ex, std::vector<std::string> argv, std::string machine);
    ~ServeConnection();

    const std::string& machine() const noexcept { return machine_; }
    unsigned remote_version() const noexcept { return remote_version_; }
    bool good() const noexcept { return good_; }
    void mark_bad() noexcept { good_ = false; }
    /// Whether the child (ssh) has exited: a kept connection whose other end went away meanwhile.
    bool exited() { return !child_ || child_->exited(); }

    /// Where the child's standard error goes from now on; null: kept (its last 4 KiB) for messages.
    void set_log(std::function<void(std::string_view)> log);
    /// The child's standard error is read only while the connection is in use (between start_reading()
    /// and stop_reading()), so that an idle connection is no pending work of the io_context: a loop whose
    /// work is done returns from run() while machines keep their connections open.
    void start_reading();
    void stop_reading();
    /// Hands what the child wrote to its standard error so far to the log now, without waiting (a
    /// build's last log lines can arrive after its result: they come through another pipe).
    void flush_log();

    boost::asio::awaitable<void> send(std::string bytes);
    /// Reads until `decode` (one of serve_protocol.hh's decoders, bound to its arguments) has a message;
    /// consumes its bytes and returns it.
    template <typename Decode>
    auto receive(Decode decode) -> boost::asio::awaitable<decltype(decode(std::string_view())->value)> {
        std::exception_ptr error;
        try {
            auto value = co_await stream_->receive(std::move(decode));
            co_return value;
        } catch (...) {
            // Here, not in failed(): once the coroutine is cancelled, its next co_await throws at once.
            good_ = false;
            error = std::current_exception();
        }
        co_await failed(error, "");
        throw std::logic_error("unreachable"); // failed() throws
    }

    /// Waits on the loop until some input is here, so that a blocking read on the pool starts with bytes
    /// in hand instead of holding a pool thread for a round trip. Throws as receive().
    boost::asio::awaitable<void> await_input();

    /// Blocking (pool): writes all of `bytes` to the child.
    void write_blocking(std::string_view bytes);
    /// Blocking (pool): feeds the child's output to `parser` until the archive ends (or it throws); the
    /// bytes after the archive stay for the next receive().
    void read_nar_blocking(HashingNarParser& parser);

    /// Throws MachineDown "<machine>: <what>" (with the child's last words) and marks the connection bad.
    [[noreturn]] void fail(std::string_view what);

private:
    ServeConnection(boost::asio::any_io_executor ex, std::vector<std::string> argv, std::string machine);
    boost::asio::awaitable<void> handshake();
    /// Turns a failure of the stream into MachineDown (after waiting for the child's last words when it
    /// went away); rethrows cancellation as it is. Always throws.
    boost::asio::awaitable<void> failed(std::exception_ptr error, std::string_view doing);
    struct ErrReader;
    /// Reads the child's standard error until it closes or the connection is destroyed.
    static boost::asio::awaitable<void> read_stderr(std::shared_ptr<ErrReader> err, unsigned generation);
    /// Gives the stderr reader up to a second to collect the child's last words.
    boost::asio::awaitable<void> await_last_words();

    boost::asio::any_io_executor ex_;
    std::string machine_;
    std::string command_;
    std::unique_ptr<PipedChild> child_;
    std::unique_ptr<ServeStream> stream_;
    std::shared_ptr<ErrReader> err_;
    unsigned remote_version_ = 0;
    bool good_ = true;
};

} // namespace ferry
