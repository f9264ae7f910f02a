#include "ferry/sched/build_log.hh"

#include <fcntl.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "ferry/store/local_store.hh"
#include "ferry/util/compressor.hh"
#include "ferry/util/file.hh"

namespace asio = boost::asio;

namespace ferry {

/// The file side: what waits to be written, and the compressed stream. Shared with the batch in flight,
/// which may outlive nothing but the BuildLog (finish() waits for it).
struct BuildLog::Writer {
    std::mutex mutex;
    std::condition_variable idle;
    std::string pending;   ///< guarded by mutex
    bool flushing = false; ///< a batch is in flight (guarded by mutex)
    // Used by one thread at a time: the batch in flight, or finish() once none is.
    std::filesystem::path file;
    UniqueFd fd;
    std::unique_ptr<Compressor> compressor;
    std::exception_ptr error;

    void write(std::string_view data) {
        if (error || data.empty()) return;
        try {
            compressor->feed(data);
        } catch (...) {
            error = std::current_exception();
        }
    }

    /// Writes batches until nothing is pending (on the pool).
    void drain() {
        std::string batch;
        for (;;) {
            {
                std::lock_guard lock(mutex);
                batch.clear();
                batch.swap(pending);
                if (batch.empty()) {
                    flushing = false;
                    idle.notify_all();
                    return;
                }
            }
            write(batch);
        }
    }
};

std::filesystem::path build_log_path(const LocalStore& store, const StorePath& drv, bool compressed) {
    const auto& base = drv.to_string();
    return store.config().state_dir() / "log" / "drvs" / base.substr(0, 2) /
           (base.substr(2) + (compressed ? ".bz2" : ""));
}

BuildLog::BuildLog(const LocalStore& store, const StorePath& drv, bool compress, asio::thread_pool* pool)
    : BuildLog(build_log_path(store, drv, compress), compress, pool) {}

BuildLog::BuildLog(std::filesystem::path file, bool compress, asio::thread_pool* pool)
    : path_(std::move(file)), pool_(pool) {
    if (path_.empty()) return;
    make_directories(path_.parent_path(), "log directory");
    auto w = std::make_shared<Writer>();
    w->file = path_;
    w->fd = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!w->fd) throw SysError("creating build log '" + path_.string() + "'");
    auto* raw = w.get();
    w->compressor = make_compressor(compress ? "bzip2" : "none", [raw](std::string_view out) {
        write_full(raw->fd.get(), out, "'" + raw->file.string() + "'");
    });
    writer_ = std::move(w);
}

BuildLog::~BuildLog() {
    try {
        finish();
    } catch (...) {
        // The error was the build's to report (finish() on the pool); a destructor cannot.
    }
}

void BuildLog::append(std::string_view data) {
    size_ += data.size();
    for (char c : data) {
        if (c != '\n') {
            if (partial_.size() < 4096) partial_ += c;
            continue;
        }
        tail_.push_back(std::move(partial_));
        partial_.clear();
        if (tail_.size() > kTailLines) tail_.pop_front();
    }
    if (!writer_) return;
    if (!pool_) return writer_->write(data);
    bool start = false;
    {
        std::lock_guard lock(writer_->mutex);
        writer_->pending.append(data);
        start = !writer_->flushing;
        writer_->flushing = true;
    }
    if (start) asio::post(*pool_, [w = writer_] { w->drain(); });
}

asio::awaitable<void> BuildLog::wait_writable() {
    if (!writer_ || !pool_) co_return;
    std::optional<asio::steady_timer> timer;
    for (;;) {
        {
            std::lock_guard lock(writer_->mutex);
            if (writer_->pending.size() < kMaxBacklog) co_return;
        }
        if (!timer) timer.emplace(co_await asio::this_coro::executor);
        timer->expires_after(std::chrono::milliseconds(2));
        co_await timer->async_wait(asio::use_awaitable);
    }
}

void BuildLog::finish() {
    if (!writer_) return;
    auto w = std::move(writer_);
    {
        std::unique_lock lock(w->mutex);
        w->idle.wait(lock, [&] { return !w->flushing; });
    }
    w->write(w->pending);
    w->pending.clear();
    if (!w->error) {
        try {
            w->compressor->finish();
        } catch (...) {
            w->error = std::current_exception();
        }
    }
    if (::close(w->fd.release()) != 0 && !w->error)
        w->error = std::make_exception_ptr(SysError("closing '" + w->file.string() + "'"));
    if (w->error) std::rethrow_exception(w->error);
}

std::string BuildLog::tail() const {
    std::string out;
    size_t skip = (tail_.size() + (partial_.empty() ? 0 : 1) > kTailLines) ? 1 : 0;
    for (const auto& l : tail_) {
        if (skip) {
            --skip;
            continue;
        }
        out += l + "\n";
    }
    if (!partial_.empty()) out += partial_ + "\n";
    return out;
}

} // namespace ferry
