#include "ferry/util/compression.hh"

#include <bzlib.h>
#include <lzma.h>
#include <zstd.h>

#include <vector>

#include "ferry/util/error.hh"

namespace ferry {

namespace {

// Per decompressor; many run at once (one per download), so this stays small, and it is left
// uninitialised so that untouched pages cost nothing.
constexpr size_t kOutBuf = 64 * 1024;

template <typename T> struct OutBuffer {
    OutBuffer() : data_(new T[kOutBuf]) {}
    T* data() { return data_.get(); }
    size_t size() const { return kOutBuf; }
    std::unique_ptr<T[]> data_;
};

class NoneDecompressor final : public Decompressor {
public:
    explicit NoneDecompressor(ByteSink sink) : sink_(std::move(sink)) {}
    void feed(std::string_view chunk) override {
        if (!chunk.empty()) sink_(chunk);
    }
    void finish() override {}

private:
    ByteSink sink_;
};

class XzDecompressor final : public Decompressor {
public:
    explicit XzDecompressor(ByteSink sink) : sink_(std::move(sink)) {
        if (lzma_stream_decoder(&strm_, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
            throw Error("cannot initialise the xz decoder");
    }
    ~XzDecompressor() override { lzma_end(&strm_); }
    void feed(std::string_view chunk) override { run(chunk, LZMA_RUN); }
    void finish() override {
        run({}, LZMA_FINISH);
        if (!ended_) throw FormatError("xz stream is truncated");
    }

private:
    void run(std::string_view in, lzma_action action) {
        strm_.next_in = reinterpret_cast<const uint8_t*>(in.data());
        strm_.avail_in = in.size();
        do {
            if (ended_) {
                if (strm_.avail_in) throw FormatError("trailing data after the xz stream");
                return;
            }
            strm_.next_out = out_.data();
            strm_.avail_out = out_.size();
            lzma_ret ret = lzma_code(&strm_, action);
            size_t produced = out_.size() - strm_.avail_out;
            if (produced) sink_({reinterpret_cast<const char*>(out_.data()), produced});
            if (ret == LZMA_STREAM_END)
                ended_ = true;
            else if (ret == LZMA_BUF_ERROR && action == LZMA_FINISH)
                return;
            else if (ret != LZMA_OK)
                throw FormatError("corrupt xz stream (liblzma error {})", int(ret));
        } while (strm_.avail_in > 0 || strm_.avail_out == 0);
    }

    ByteSink sink_;
    lzma_stream strm_ = LZMA_STREAM_INIT;
    OutBuffer<uint8_t> out_;
    bool ended_ = false;
};

class ZstdDecompressor final : public Decompressor {
public:
    explicit ZstdDecompressor(ByteSink sink) : sink_(std::move(sink)), ds_(ZSTD_createDStream()) {
        if (!ds_) throw Error("cannot initialise the zstd decoder");
    }
    ~ZstdDecompressor() override { ZSTD_freeDStream(ds_); }
    void feed(std::string_view chunk) override {
        ZSTD_inBuffer in{chunk.data(), chunk.size(), 0};
        while (in.pos < in.size || last_full_) {
            ZSTD_outBuffer out{out_.data(), out_.size(), 0};
            size_t ret = ZSTD_decompressStream(ds_, &out, &in);
            if (ZSTD_isError(ret)) throw FormatError("corrupt zstd stream ({})", ZSTD_getErrorName(ret));
            if (out.pos) sink_({out_.data(), out.pos});
            last_full_ = out.pos == out.size;
            frame_done_ = ret == 0;
            if (!last_full_ && in.pos == in.size) break;
        }
    }
    void finish() override {
        if (!frame_done_) throw FormatError("zstd stream is truncated");
    }

private:
    ByteSink sink_;
    ZSTD_DStream* ds_;
    OutBuffer<char> out_;
    bool last_full_ = false;
    bool frame_done_ = false;
};

class Bzip2Decompressor final : public Decompressor {
public:
    explicit Bzip2Decompressor(ByteSink sink) : sink_(std::move(sink)) {
        if (BZ2_bzDecompressInit(&strm_, 0, 0) != BZ_OK) throw Error("cannot initialise the bzip2 decoder");
    }
    ~Bzip2Decompressor() override { BZ2_bzDecompressEnd(&strm_); }
    void feed(std::string_view chunk) override {
        strm_.next_in = const_cast<char*>(chunk.data());
        strm_.avail_in = unsigned(chunk.size());
        while (strm_.avail_in > 0 || full_) {
            if (ended_) throw FormatError("trailing data after the bzip2 stream");
            strm_.next_out = out_.data();
            strm_.avail_out = unsigned(out_.size());
            int ret = BZ2_bzDecompress(&strm_);
            size_t produced = out_.size() - strm_.avail_out;
            if (produced) sink_({out_.data(), produced});
            full_ = strm_.avail_out == 0;
            if (ret == BZ_STREAM_END)
                ended_ = true;
            else if (ret != BZ_OK)
                throw FormatError("corrupt bzip2 stream (libbz2 error {})", ret);
            if (ended_ && !full_ && strm_.avail_in == 0) break;
        }
    }
    void finish() override {
        if (!ended_) throw FormatError("bzip2 stream is truncated");
    }

private:
    ByteSink sink_;
    bz_stream strm_{};
    OutBuffer<char> out_;
    bool ended_ = false;
    bool full_ = false;
};

std::string compress_xz(std::string_view data, int level) {
    std::string out(lzma_stream_buffer_bound(data.size()), '\0');
    size_t pos = 0;
    if (lzma_easy_buffer_encode(level < 0 ? 6 : uint32_t(level), LZMA_CHECK_CRC64, nullptr,
                                reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()) != LZMA_OK)
        throw Error("xz compression failed");
    out.resize(pos);
    return out;
}

std::string compress_zstd(std::string_view data, int level) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level < 0 ? 3 : level);
    if (ZSTD_isError(n)) throw Error("zstd compression failed: {}", ZSTD_getErrorName(n));
    out.resize(n);
    return out;
}

std::string compress_bzip2(std::string_view data, int level) {
    unsigned len = unsigned(data.size() + data.size() / 100 + 600);
    std::string out(len, '\0');
    if (BZ2_bzBuffToBuffCompress(out.data(), &len, const_cast<char*>(data.data()), unsigned(data.size()),
                                 level < 0 ? 9 : level, 0, 0) != BZ_OK)
        throw Error("bzip2 compression failed");
    out.resize(len);
    return out;
}

} // namespace

std::unique_ptr<Decompressor> make_decompressor(std::string_view method, ByteSink sink) {
    if (method == "none" || method.empty()) return std::make_unique<NoneDecompressor>(std::move(sink));
    if (method == "xz") return std::make_unique<XzDecompressor>(std::move(sink));
    if (method == "zstd") return std::make_unique<ZstdDecompressor>(std::move(sink));
    if (method == "bzip2") return std::make_unique<Bzip2Decompressor>(std::move(sink));
    throw FormatError("unknown compression method '{}'", method);
}

std::string compress(std::string_view method, std::string_view data, int level) {
    if (method == "none") return std::string(data);
    if (method == "xz") return compress_xz(data, level);
    if (method == "zstd") return compress_zstd(data, level);
    if (method == "bzip2") return compress_bzip2(data, level);
    throw FormatError("unknown compression method '{}'", method);
}

std::string_view compression_extension(std::string_view method) {
    if (method == "xz") return ".xz";
    if (method == "zstd") return ".zst";
    if (method == "bzip2") return ".bz2";
    return "";
}

} // namespace ferry
