#pragma once
/// Per-build log files, laid out as Nix does: `<state>/log/drvs/<first 2 chars>/<rest of the .drv base
/// name>`, bzip2-compressed with a `.bz2` suffix when `compress-build-log` is on (Nix's default), so
/// `ferry log PATH` finds the log of a derivation or of one of its outputs.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/store/store_path.hh"

namespace ferry {

class LocalStore;

/// Where the log of building `drv` is kept: with ".bz2" when `compressed`.
std::filesystem::path build_log_path(const LocalStore& store, const StorePath& drv, bool compressed = false);

/// Writes a build's output to its log file and keeps the last lines for error messages. One per build.
/// append() and the awaitables are called on the loop thread; the writes (and the compression) run on
/// the pool given, in batches, at most one batch in flight per log, so the loop never waits for the
/// disk. Without a pool, append() writes at once (blocking).
class BuildLog {
public:
    static constexpr size_t kTailLines = 10;
    /// Bytes handed to append() and not yet written beyond which wait_writable() waits.
    static constexpr size_t kMaxBacklog = 4 << 20;

    /// The log of `drv` in `store` (see build_log_path()). Blocking (creates the file).
    BuildLog(const LocalStore& store, const StorePath& drv, bool compress, boost::asio::thread_pool* pool);
    /// Writes to `file` (its directories created), bzip2-compressed when `compress`; an empty path keeps
    /// the tail only (no file). Blocking.
    explicit BuildLog(std::filesystem::path file, bool compress = false,
                      boost::asio::thread_pool* pool = nullptr);
    /// Finishes the file when finish() was not called (blocking: call finish() on the pool first).
    ~BuildLog();

    /// Appends builder output (any chunking). A write error is kept for finish().
    void append(std::string_view data);
    /// Resumes once the bytes waiting for the writer are fewer than kMaxBacklog (polls a timer): the
    /// builder's output is read no faster than it is written, so memory stays flat.
    boost::asio::awaitable<void> wait_writable();
    /// Blocking (run it on the pool): waits for the batch in flight, writes the rest, ends the compressed
    /// stream and closes the file. Throws the first write error, as SysError naming the file.
    void finish();

    /// The last kTailLines complete or partial lines.
    std::string tail() const;
    const std::filesystem::path& path() const { return path_; }
    /// Bytes appended so far.
    uint64_t size() const noexcept { return size_; }

private:
    struct Writer;
    std::filesystem::path path_;
    boost::asio::thread_pool* pool_ = nullptr;
    std::shared_ptr<Writer> writer_;
    uint64_t size_ = 0;
    std::deque<std::string> tail_;
    std::string partial_;
};

} // namespace ferry
