#include "ferry/cache/nar_download.hh"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

std::shared_ptr<NarDownload> NarDownload::make(asio::thread_pool& pool, StoreView& store, const NarInfo& info,
                                               std::shared_ptr<http::BodyGate> gate) {
    return std::shared_ptr<NarDownload>(new NarDownload(pool, store, info, std::move(gate)));
}

NarDownload::NarDownload(asio::thread_pool& pool, StoreView& store, const NarInfo& info,
                         std::shared_ptr<http::BodyGate> gate)
    : store_(store), strand_(asio::make_strand(pool.get_executor())), gate_(std::move(gate)),
      name_(info.path.name()), url_(info.url), compression_(info.compression), file_hash_(info.file_hash),
      file_size_(info.file_size), nar_hash_(info.nar_hash), nar_size_(info.nar_size) {
    // A gate left closed by an abandoned attempt must not hold back this one.
    if (gate_) gate_->open();
}

NarDownload::~NarDownload() {
    destroy_stages();
}

void NarDownload::push(std::string_view piece) {
    received_ += piece.size();
    std::unique_lock lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    if (closed_) throw Error("the download of '{}' was abandoned", url_);
    input_.append(piece);
    if (!scheduled_) {
        scheduled_ = true;
        asio::post(strand_, [self = shared_from_this()] { self->drain(); });
    }
    if (input_.size() < kMaxBuffered) return;
    if (gate_) {
        // Under the lock, so the consumer's next swap (which opens the gate) comes after this.
        gate_->close();
        return;
    }
    drained_.wait(lock, [this] { return input_.size() < kMaxBuffered || error_ || closed_; });
    if (error_) std::rethrow_exception(error_);
}

void NarDownload::drain() {
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (input_.empty() || closed_ || error_) {
                scheduled_ = false;
                return;
            }
            batch_.clear();
            std::swap(batch_, input_);
        }
        drained_.notify_all();
        if (gate_ && !gate_->is_open()) gate_->open();
        try {
            process(batch_);
        } catch (...) {
            fail(std::current_exception());
            return;
        }
    }
}

void NarDownload::fail(std::exception_ptr error) noexcept {
    {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = error;
    }
    destroy_stages();
    // Let a held-back producer run into the error at once.
    drained_.notify_all();
    if (gate_) gate_->open();
}

void NarDownload::start_stages() {
    staged_ = store_.stage(name_);
    restorer_ = std::make_unique<NarRestorer>(staged_->path());
    parser_ = std::make_unique<HashingNarParser>(*restorer_, nar_hash_.algo);
    if (file_hash_) file_hasher_.emplace(file_hash_->algo);
    uint64_t nar_bytes = 0;
    decompressor_ = make_decompressor(compression_, [this, nar_bytes](std::string_view plain) mutable {
        // Stop a stream that inflates beyond its promise before it fills the disk.
        nar_bytes += plain.size();
        if (nar_bytes > nar_size_)
            throw HashMismatch("NAR size mismatch: expected {} bytes, got more", nar_size_);
        parser_->feed(plain);
    });
}

void NarDownload::process(std::string_view batch) {
    if (!decompressor_) start_stages();
    file_bytes_ += batch.size();
    if (file_size_ && file_bytes_ > file_size_)
        throw HashMismatch("file size mismatch for '{}': expected {} bytes, got more", url_, file_size_);
    if (file_hasher_) file_hasher_->update(batch);
    try {
        decompressor_->feed(batch);
    } catch (FormatError& e) {
        e.add_context(fmt::format("corrupt NAR file '{}'", url_));
        throw;
    }
}

void NarDownload::finish_stages() {
    if (!decompressor_) start_stages();
    try {
        decompressor_->finish();
    } catch (FormatError& e) {
        e.add_context(fmt::format("corrupt NAR file '{}'", url_));
        throw;
    }
    if (file_size_ && file_bytes_ != file_size_)
        throw HashMismatch("file size mismatch for '{}': expected {} bytes, got {}", url_, file_size_,
                           file_bytes_);
    if (file_hasher_) {
        Hash got = file_hasher_->finish();
        file_hasher_.reset();
        if (got != *file_hash_)
            throw HashMismatch("file hash mismatch for '{}': expected {}, got {}", url_,
                               file_hash_->to_nix32_prefixed(), got.to_nix32_prefixed());
    }
    NarHashResult got =
        with_context(fmt::format("corrupt NAR file '{}'", url_), [&] { return parser_->finish(); });
    if (got.nar_size != nar_size_)
        throw HashMismatch("NAR size mismatch: expected {} bytes, got {}", nar_size_, got.nar_size);
    if (got.hash != nar_hash_)
        throw HashMismatch("NAR hash mismatch: expected {}, got {}", nar_hash_.to_nix32_prefixed(),
                           got.hash.to_nix32_prefixed());
    restorer_->commit();
    // Only the staged tree waits for the commit (which may wait for references a long time): the
    // decoder's and parser's buffers go now, so a large closure does not hold one set per path.
    decompressor_.reset();
    parser_.reset();
    restorer_.reset();
    std::string().swap(batch_);
    {
        std::lock_guard lock(mutex_);
        std::string().swap(input_);
    }
    finished_ = true;
}

asio::awaitable<void> NarDownload::finish() {
    auto self = shared_from_this();
    auto work = [this] {
        drain();
        {
            std::lock_guard lock(mutex_);
            if (error_) std::rethrow_exception(error_);
            if (closed_) throw Error("the download of '{}' was abandoned", url_);
        }
        try {
            finish_stages();
        } catch (...) {
            fail(std::current_exception());
            throw;
        }
    };
    co_await run_on(strand_, work);
}

asio::awaitable<std::unique_ptr<StagedPath>> NarDownload::take() {
    auto self = shared_from_this();
    auto work = [this] {
        if (!finished_ || !staged_) throw Error("taking '{}' before its download finished", url_);
        // The restorer is committed: dropping it keeps the tree and closes its descriptors.
        decompressor_.reset();
        parser_.reset();
        restorer_.reset();
        return std::move(staged_);
    };
    auto taken = co_await run_on(strand_, work);
    co_return taken;
}

asio::awaitable<void> NarDownload::close() {
    auto self = shared_from_this();
    auto work = [this] {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        destroy_stages();
        drained_.notify_all();
    };
    co_await run_on(strand_, work);
}

void NarDownload::abandon() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    drained_.notify_all();
    asio::post(strand_, [self = shared_from_this()] { self->destroy_stages(); });
}

void NarDownload::destroy_stages() noexcept {
    // In dependency order: the decompressor feeds the parser, which feeds the restorer, which writes
    // into the staging directory.
    decompressor_.reset();
    parser_.reset();
    restorer_.reset();
    staged_.reset();
    file_hasher_.reset();
}

} // namespace ferry
