#include "ferry/util/compression.hh"
#include "ferry/util/compressor.hh"

#include <random>

#include <gtest/gtest.h>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "ferry/util/hash.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"

using namespace ferry;

namespace {

std::string sample(size_t size) {
    std::mt19937 rng(42);
    std::string s(size, '\0');
    // Half random, half repetitive, so it compresses some.
    for (size_t i = 0; i < size; ++i)
        s[i] = (i / 4096) % 2 ? char(rng()) : char('a' + i % 7);
    return s;
}

std::string decompress_in_chunks(std::string_view method, std::string_view data, size_t chunk) {
    std::string out;
    auto d = make_decompressor(method, [&](std::string_view s) { out += s; });
    for (size_t i = 0; i < data.size(); i += chunk)
        d->feed(data.substr(i, chunk));
    d->finish();
    return out;
}

} // namespace

class CompressionMethods : public ::testing::TestWithParam<const char*> {};

TEST_P(CompressionMethods, RoundTripInAnyChunking) {
    auto data = sample(3 * 1024 * 1024 + 17);
    auto packed = compress(GetParam(), data);
    for (size_t chunk : {size_t(1) << 20, size_t(4096), size_t(7)}) {
        if (chunk == 7 && packed.size() > 200000) continue; // one small-chunk pass over a prefix below
        EXPECT_EQ(decompress_in_chunks(GetParam(), packed, chunk), data) << chunk;
    }
    auto small = sample(5000);
    EXPECT_EQ(decompress_in_chunks(GetParam(), compress(GetParam(), small), 1), small);
}

// An uncompressed stream has no end marker and any bytes are valid, so these cover the real codecs.
class CompressedMethods : public ::testing::TestWithParam<const char*> {};

TEST_P(CompressedMethods, TruncationIsAnError) {
    std::string method = GetParam();
    auto packed = compress(method, sample(100000));
    EXPECT_THROW(decompress_in_chunks(method, packed.substr(0, packed.size() / 2), 4096), FormatError);
    EXPECT_THROW(decompress_in_chunks(method, packed.substr(0, packed.size() - 1), 4096), FormatError);
}

TEST_P(CompressedMethods, GarbageIsAnError) {
    std::string method = GetParam();
    std::string garbage(10000, '\x5a');
    EXPECT_THROW(decompress_in_chunks(method, garbage, 4096), FormatError);
}

INSTANTIATE_TEST_SUITE_P(All, CompressionMethods, ::testing::Values("none", "xz", "zstd", "bzip2"));
INSTANTIATE_TEST_SUITE_P(All, CompressedMethods, ::testing::Values("xz", "zstd", "bzip2"));

TEST(Compression, FixtureNarsDecompressToTheirNarHash) {
    // cache-xz and cache-zstd hold the same NARs as cache-none: FileHash of none == NarHash.
    for (const char* cache : {"cache-xz", "cache-zstd"}) {
        size_t n = 0;
        for (const auto& e : std::filesystem::directory_iterator(test::compat_dir() / cache / "nar")) {
            auto packed = read_file(e.path());
            HashSink sink(HashAlgo::sha256);
            auto d = make_decompressor(std::string(cache) == "cache-xz" ? "xz" : "zstd",
                                       [&](std::string_view s) { sink.update(s); });
            d->feed(packed);
            d->finish();
            auto nar_hash = sink.finish().to_string(HashFormat::nix32, false);
            EXPECT_TRUE(
                std::filesystem::exists(test::compat_dir() / "cache-none" / "nar" / (nar_hash + ".nar")))
                << e.path();
            ++n;
        }
        EXPECT_GT(n, 10u);
    }
}

TEST(Compression, UnknownMethod) {
    EXPECT_THROW(make_decompressor("lz4", [](std::string_view) {}), FormatError);
    EXPECT_EQ(compression_extension("zstd"), ".zst");
}

// The streaming bzip2 compressor gives what bunzip2 reads back (the real tool: Nix's build logs are read
// by `bzcat` too), in any chunking, large input included.
TEST(Compressor, Bzip2StreamIsReadByBzcat) {
    TempDir tmp;
    std::string plain;
    for (int i = 0; plain.size() < 3'000'000; ++i)
        plain += "line " + std::to_string(i * 7919 % 100003) + " of a build log\n";
    std::string packed;
    auto c = make_compressor("bzip2", [&](std::string_view s) { packed += s; });
    for (size_t pos = 0; pos < plain.size(); pos += 12345)
        c->feed(std::string_view(plain).substr(pos, 12345));
    c->finish();
    EXPECT_LT(packed.size(), plain.size() / 4);
    write_file_atomic(tmp.path() / "log.bz2", packed);
    auto out = test::shell_output("bzcat '" + (tmp.path() / "log.bz2").string() + "'");
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(*out == plain);

    std::string none;
    auto n = make_compressor("none", [&](std::string_view s) { none += s; });
    n->feed("abc");
    n->finish();
    EXPECT_EQ(none, "abc");
    EXPECT_THROW(make_compressor("lz4", [](std::string_view) {}), FormatError);
}
