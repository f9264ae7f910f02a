// ServeStream: descriptors, a receive buffer, blocking NAR transfers.

#include "ferry/remote/serve_stream.hh"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;

namespace ferry {

namespace {
constexpr size_t kChunk = 256 * 1024;
} // namespace

ServeStream::ServeStream(asio::any_io_executor ex, UniqueFd in, UniqueFd out)
    : in_(ex, in.release()), out_(ex, out.release()) {}

void ServeStream::close() {
    boost::system::error_code ec;
    in_.close(ec);
    out_.close(ec);
}

asio::awaitable<bool> ServeStream::read_more() {
    size_t old = buf_.size();
    buf_.resize(old + kChunk);
    boost::system::error_code ec;
    size_t n = co_await in_.async_read_some(asio::buffer(buf_.data() + old, kChunk),
                                            asio::redirect_error(asio::use_awaitable, ec));
    buf_.resize(old + n);
    if (ec == asio::error::eof) co_return false;
    if (ec) throw boost::system::system_error(ec, "read");
    co_return true;
}

asio::awaitable<bool> ServeStream::more() {
    bool more = true;
    while (more && buf_.empty())
        more = co_await read_more();
    co_return more;
}

asio::awaitable<void> ServeStream::until_end_of_input() {
    for (;;) {
        bool more = co_await read_more();
        if (!more) co_return;
    }
}

asio::awaitable<void> ServeStream::send(std::string bytes) {
    co_await asio::async_write(out_, asio::buffer(bytes), asio::use_awaitable);
}

void ServeStream::write_blocking(std::string_view bytes) {
    asio::write(out_, asio::buffer(bytes.data(), bytes.size()));
}

bool ServeStream::fill_blocking() {
    buf_.resize(kChunk);
    boost::system::error_code ec;
    size_t n = in_.read_some(asio::buffer(buf_.data(), buf_.size()), ec);
    buf_.resize(n);
    if (ec == asio::error::eof) return false;
    if (ec) throw boost::system::system_error(ec, "read");
    return true;
}

void ServeStream::read_exact_blocking(uint64_t n, const std::function<void(std::string_view)>& sink) {
    while (n > 0) {
        if (buf_.empty() && !fill_blocking()) throw EndOfInput("unexpected end of input");
        size_t take = std::min<uint64_t>(n, buf_.size());
        sink(std::string_view(buf_).substr(0, take));
        buf_.erase(0, take);
        n -= take;
    }
}

void ServeStream::read_until_blocking(const std::function<size_t(std::string_view)>& consume,
                                      const std::function<bool()>& done) {
    while (!done()) {
        if (buf_.empty() && !fill_blocking()) throw EndOfInput("unexpected end of input");
        size_t used = consume(buf_);
        buf_.erase(0, used);
    }
}

} // namespace ferry
