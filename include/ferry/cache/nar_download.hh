#pragma once
/// The NAR download pipeline: the compressed bytes of one NAR, as they arrive from the network, go
/// through FileHash/FileSize, decompression, and HashingNarParser + NarRestorer into a StagedPath, so
/// that each byte is hashed once and the path is unpacked by the time the body has arrived.
///
///   loop thread: push(piece) ──► input buffer ──► pool strand: file hash ─► decompress ─► NAR hash
///                                                                             + restore into staging
///
/// Everything after the input buffer runs on a strand of the thread pool, in order. When the consumer
/// lags, the buffer is bounded: an http(s) transfer is paused through its BodyGate; a file:// read (which
/// curl performs in one go on the loop thread anyway) waits in push() instead.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "ferry/cache/narinfo.hh"
#include "ferry/http/body_gate.hh"
#include "ferry/sched/store_view.hh"
#include "ferry/store/nar.hh"
#include "ferry/store/path_info.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/util/compression.hh"

namespace ferry {

/// One attempt at downloading one NAR. Create with make(); a retried download uses a new one.
///
/// Threading: push() on the loop thread (the HTTP sink); finish(), take() and close() are awaited from
/// the loop thread and run their work on the strand. Ownership: shared by the caller and the strand's
/// queued tasks; the staged contents live until close() (or the last reference) and are deleted unless
/// committed.
class NarDownload : public std::enable_shared_from_this<NarDownload> {
public:
    /// Unprocessed bytes at which the producer is held back.
    static constexpr size_t kMaxBuffered = 1 << 20;

    /// A download of `info`'s NAR into `store`'s staging area (StoreView::stage(), called on the pool).
    /// `gate`: the request's gate (http and https), or null for a source that cannot pause (push() then
    /// blocks while the buffer is full).
    static std::shared_ptr<NarDownload> make(boost::asio::thread_pool& pool, StoreView& store,
                                             const NarInfo& info, std::shared_ptr<http::BodyGate> gate);
    ~NarDownload();
    NarDownload(const NarDownload&) = delete;
    NarDownload& operator=(const NarDownload&) = delete;

    /// Hands over the next piece of the compressed body. Throws the first error of the consumer (a
    /// corrupt stream, a full disk), which aborts the transfer early.
    void push(std::string_view piece);
    /// The whole body was pushed: processes the rest, checks FileSize, FileHash, NarSize and NarHash.
    /// Throws HashMismatch or FormatError naming what differs, SysError for the file system.
    boost::asio::awaitable<void> finish();
    /// After finish(): the verified staged contents, handed over (the caller makes them valid or drops
    /// them; close() no longer deletes them).
    boost::asio::awaitable<std::unique_ptr<StagedPath>> take();
    /// Drops pending work and deletes whatever was staged (unless committed); returns once done.
    /// Idempotent.
    boost::asio::awaitable<void> close();
    /// As close(), without waiting: for a download abandoned by a retry.
    void abandon();

    /// Compressed bytes pushed so far.
    uint64_t received() const noexcept { return received_; }

private:
    NarDownload(boost::asio::thread_pool& pool, StoreView& store, const NarInfo& info,
                std::shared_ptr<http::BodyGate> gate);

    /// Strand: processes buffered input until none is left (or an error).
    void drain();
    /// Strand: one batch through the hashes, the decompressor and the parser.
    void process(std::string_view batch);
    /// Strand: creates the staging directory and the stages, on the first byte.
    void start_stages();
    /// Strand: the checks at the end of the stream.
    void finish_stages();
    /// Strand: destroys the stages and the staging directory.
    void destroy_stages() noexcept;
    void fail(std::exception_ptr error) noexcept;

    StoreView& store_;
    boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;
    std::shared_ptr<http::BodyGate> gate_;
    // What the narinfo promises.
    std::string name_;
    std::string url_;
    std::string compression_;
    std::optional<Hash> file_hash_;
    uint64_t file_size_;
    Hash nar_hash_;
    uint64_t nar_size_;

    // Shared between the loop and the strand, under mutex_.
    std::mutex mutex_;
    std::condition_variable drained_;
    std::string input_;
    bool scheduled_ = false;
    bool closed_ = false;
    std::exception_ptr error_;
    uint64_t received_ = 0; // loop thread only

    // The strand's own.
    std::string batch_;
    std::unique_ptr<StagedPath> staged_;
    std::unique_ptr<NarRestorer> restorer_;
    std::unique_ptr<HashingNarParser> parser_;
    std::unique_ptr<Decompressor> decompressor_;
    std::optional<HashSink> file_hasher_;
    uint64_t file_bytes_ = 0;
    bool finished_ = false;
};

} // namespace ferry
