#pragma once
/// The byte stream under a serve-protocol session: a pair of descriptors driven by Asio, a receive
/// buffer fed to the I/O-free decoders of serve_protocol.hh, and blocking transfers for NARs on a pool
/// thread. Used by both sides: `ferry serve` on its standard input and output, the client
/// (serve_connection.hh) on the pipes of ssh.
///
/// Threading: the awaitable members on the loop thread; the *_blocking ones on a pool thread while the
/// loop does not use the stream.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "ferry/remote/wire.hh"
#include "ferry/util/file.hh"

namespace ferry {

/// The peer closed its end where more was expected.
class EndOfInput : public Error {
public:
    using Error::Error;
};

class ServeStream {
public:
    /// Reads from `in`, writes to `out`; both are owned (closed with the stream).
    ServeStream(boost::asio::any_io_executor ex, UniqueFd in, UniqueFd out);

    /// Reads until `decode` has a message; consumes its bytes and returns it. Throws EndOfInput,
    /// ProtocolError for what the decoder refuses, boost::system::system_error for a failed read
    /// (operation_aborted when the awaiting coroutine is cancelled).
    template <typename Decode>
    auto receive(Decode decode) -> boost::asio::awaitable<decltype(decode(std::string_view())->value)> {
        for (;;) {
            auto got = decode(std::string_view(buf_));
            if (got) {
                auto value = std::move(got->value);
                buf_.erase(0, got->used);
                co_return value;
            }
            bool more = co_await read_more();
            if (!more) throw EndOfInput("unexpected end of input");
        }
    }
    /// Whether more input comes: false at end of input with nothing buffered.
    boost::asio::awaitable<bool> more();
    boost::asio::awaitable<void> send(std::string bytes);
    /// Returns at end of input, keeping what arrives meanwhile for the next receive(): run beside a
    /// build, it tells that the client went away (Nix's MonitorFdHup).
    boost::asio::awaitable<void> until_end_of_input();

    void write_blocking(std::string_view bytes);
    /// Hands exactly `n` bytes of input to `sink`, in chunks.
    void read_exact_blocking(uint64_t n, const std::function<void(std::string_view)>& sink);
    /// Hands input to `consume` (which returns how much of it it took) until `done()`.
    void read_until_blocking(const std::function<size_t(std::string_view)>& consume,
                             const std::function<bool()>& done);

    /// What was received and not consumed yet.
    std::string_view buffered() const noexcept { return buf_; }
    /// Closes both descriptors (pending operations end with operation_aborted).
    void close();

private:
    /// false at end of input.
    boost::asio::awaitable<bool> read_more();
    bool fill_blocking();

    boost::asio::posix::stream_descriptor in_, out_;
    std::string buf_;
};

} // namespace ferry
