#pragma once
/// The byte stream under a serve-protocol session: a pair of descriptors driven by Asio, a receive
/// buffer fed to the I/O-free decoders of serve_protocol.hh, and blocking transfers for NARs on a pool
/// thread. Used by `ferry serve` on its standard input and output.
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

namespace ferry {

class ServeStream {
public:
    /// Duplicates `in_fd` and `out_fd` (the originals stay the caller's). Throws SysError.
    ServeStream(boost::asio::any_io_executor ex, int in_fd, int out_fd);

    /// Reads until `decode` has a message; consumes its bytes and returns it. Throws Error at end of
    /// input ("unexpected end of input") and ProtocolError for what the decoder refuses.
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
            if (!more) throw Error("unexpected end of input from the client");
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

private:
    /// false at end of input.
    boost::asio::awaitable<bool> read_more();
    bool fill_blocking();

    boost::asio::posix::stream_descriptor in_, out_;
    std::string buf_;
};

} // namespace ferry
