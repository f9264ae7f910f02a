#include "ferry/store/nar.hh"

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

/// Read size for NAR streams coming from a descriptor.
constexpr size_t kReadSize = 256 * 1024;

/// Reads `fd` to end of file, handing each read to `fn`.
template <typename Fn> void for_each_read(int fd, const char* what, Fn&& fn) {
    auto buf = std::make_unique<char[]>(kReadSize);
    for (;;) {
        ssize_t n = ::read(fd, buf.get(), kReadSize);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError(std::string("reading ") + what);
        }
        if (n == 0) return;
        fn(std::string_view(buf.get(), size_t(n)));
    }
}

/// Hashes a dump's buffers on a second thread while the dump goes on, so that reading the tree and
/// hashing it overlap: SHA-256 is most of the cost, the dump's system calls and copies the rest. Buffers
/// change hands without copies; only a few exist, so they stay in cache. Small dumps are hashed inline
/// and never pay for the thread.
class PipelinedHasher final : public NarBufferSink {
public:
    explicit PipelinedHasher(HashAlgo algo) : hash_(algo) {}
    ~PipelinedHasher() override { stop(); }
    PipelinedHasher(const PipelinedHasher&) = delete;
    PipelinedHasher& operator=(const PipelinedHasher&) = delete;

    std::unique_ptr<char[]> exchange(std::unique_ptr<char[]> buffer, size_t size) override {
        size_ += size;
        if (!thread_.joinable() && (size_ <= kInlineBytes || !try_start())) {
            hash_.update(std::string_view(buffer.get(), size));
            return buffer;
        }
        std::unique_lock lock(mutex_);
        full_.push_back({std::move(buffer), size});
        cv_.notify_all();
        cv_.wait(lock, [&] { return !free_.empty(); });
        auto next = std::move(free_.back());
        free_.pop_back();
        return next;
    }

    NarHashResult finish() {
        stop();
        return {hash_.finish(), size_};
    }

private:
    /// Dumps up to this size are hashed on the calling thread alone.
    static constexpr uint64_t kInlineBytes = 4 * 1024 * 1024;
    /// Buffers besides the one the dumper holds: one being hashed, one waiting.
    static constexpr size_t kSpareBuffers = 2;

    struct Piece {
        std::unique_ptr<char[]> data;
        size_t size;
    };

    bool try_start() {
        if (start_failed_) return false;
        try {
            for (size_t i = 0; i < kSpareBuffers; ++i)
                free_.push_back(std::make_unique<char[]>(kNarDumpChunkSize));
            thread_ = std::thread([this] { run(); });
            return true;
        } catch (const std::system_error&) {
            start_failed_ = true; // no thread to be had: go on inline
            return false;
        }
    }

    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            cv_.wait(lock, [&] { return !full_.empty() || closing_; });
            if (full_.empty()) return;
            Piece piece = std::move(full_.front());
            full_.pop_front();
            lock.unlock();
            hash_.update(std::string_view(piece.data.get(), piece.size));
            lock.lock();
            free_.push_back(std::move(piece.data));
            cv_.notify_all();
        }
    }

    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

    HashSink hash_; // used by the hashing thread alone while it runs
    uint64_t size_ = 0;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<char[]>> free_;
    std::deque<Piece> full_;
    bool closing_ = false;
    bool start_failed_ = false;
    std::thread thread_;
};

} // namespace

NarHashResult hash_path(HashAlgo algo, const std::filesystem::path& path) {
    PipelinedHasher hasher(algo);
    dump_path(path, hasher);
    return hasher.finish();
}

HashingNarParser::HashingNarParser(NarVisitor& visitor, HashAlgo algo, NarLimits limits)
    : parser_(visitor, limits), hash_(algo) {}

void HashingNarParser::feed(std::string_view chunk) {
    parser_.feed(chunk);
    hash_.update(chunk);
}

size_t HashingNarParser::consume(std::string_view chunk) {
    size_t n = parser_.consume(chunk);
    hash_.update(chunk.substr(0, n));
    return n;
}

NarHashResult HashingNarParser::finish() {
    parser_.finish();
    return {hash_.finish(), parser_.nar_size()};
}

NarHashResult validate_nar(std::string_view nar, HashAlgo algo) {
    NullNarVisitor visitor;
    HashingNarParser parser(visitor, algo);
    parser.feed(nar);
    return parser.finish();
}

NarHashResult copy_nar(int in_fd, const NarSink& sink, HashAlgo algo) {
    NullNarVisitor visitor;
    HashingNarParser parser(visitor, algo);
    for_each_read(in_fd, "a NAR stream", [&](std::string_view chunk) {
        parser.feed(chunk);
        sink(chunk);
    });
    return parser.finish();
}

uint64_t dump_path_to_fd(const std::filesystem::path& path, int fd) {
    uint64_t size = 0;
    dump_path(path, [&](std::string_view chunk) {
        write_full(fd, chunk, "the NAR of '" + path.string() + "'");
        size += chunk.size();
    });
    return size;
}

NarHashResult restore_nar_from_fd(int fd, const std::filesystem::path& dest, HashAlgo algo) {
    NarRestorer restorer(dest);
    HashingNarParser parser(restorer, algo);
    for_each_read(fd, "a NAR stream", [&](std::string_view chunk) { parser.feed(chunk); });
    auto result = parser.finish();
    restorer.commit();
    return result;
}

} // namespace ferry
