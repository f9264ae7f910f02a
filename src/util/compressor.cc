#include "ferry/util/compressor.hh"

#include <bzlib.h>

#include <array>

#include "ferry/util/error.hh"

namespace ferry {

namespace {

class Bzip2Compressor final : public Compressor {
public:
    explicit Bzip2Compressor(ByteSink sink) : sink_(std::move(sink)) {
        // Block size 9 (900 kB), as Nix's bzip2 sink.
        if (BZ2_bzCompressInit(&strm_, 9, 0, 0) != BZ_OK) throw Error("cannot initialise the bzip2 encoder");
    }
    ~Bzip2Compressor() override { BZ2_bzCompressEnd(&strm_); }

    void feed(std::string_view chunk) override {
        strm_.next_in = const_cast<char*>(chunk.data());
        strm_.avail_in = unsigned(chunk.size());
        while (strm_.avail_in > 0)
            if (run(BZ_RUN) != BZ_RUN_OK) throw Error("bzip2 compression failed");
    }

    void finish() override {
        strm_.next_in = nullptr;
        strm_.avail_in = 0;
        for (;;) {
            int ret = run(BZ_FINISH);
            if (ret == BZ_STREAM_END) return;
            if (ret != BZ_FINISH_OK) throw Error("bzip2 compression failed");
        }
    }

private:
    int run(int action) {
        strm_.next_out = out_.data();
        strm_.avail_out = unsigned(out_.size());
        int ret = BZ2_bzCompress(&strm_, action);
        size_t n = out_.size() - strm_.avail_out;
        if (n) sink_(std::string_view(out_.data(), n));
        return ret;
    }

    ByteSink sink_;
    bz_stream strm_{};
    std::array<char, 64 * 1024> out_;
};

class NoCompressor final : public Compressor {
public:
    explicit NoCompressor(ByteSink sink) : sink_(std::move(sink)) {}
    void feed(std::string_view chunk) override {
        if (!chunk.empty()) sink_(chunk);
    }
    void finish() override {}

private:
    ByteSink sink_;
};

} // namespace

std::unique_ptr<Compressor> make_compressor(std::string_view method, ByteSink sink) {
    if (method == "bzip2") return std::make_unique<Bzip2Compressor>(std::move(sink));
    if (method == "none") return std::make_unique<NoCompressor>(std::move(sink));
    throw FormatError("unsupported compression method '{}' for a stream", method);
}

} // namespace ferry
