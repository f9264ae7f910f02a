#pragma once
/// Streaming decompression (push style: feed compressed chunks, receive plain chunks) and one-shot
/// compression for the methods binary caches use: "none", "xz", "zstd", "bzip2". Not thread-safe per
/// object.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ferry {

/// Receives decompressed bytes; may throw to abort.
using ByteSink = std::function<void(std::string_view)>;

class Decompressor {
public:
    virtual ~Decompressor() = default;
    /// Decompresses `chunk`, passing output to the sink given at creation.
    virtual void feed(std::string_view chunk) = 0;
    /// The input has ended: throws FormatError when the stream is incomplete.
    virtual void finish() = 0;
};

/// Throws FormatError for an unknown method. Corrupt input gives FormatError naming the method.
std::unique_ptr<Decompressor> make_decompressor(std::string_view method, ByteSink sink);

/// Compresses `data` in one go (for caches written by ferry and by tests). `level` < 0: the default.
std::string compress(std::string_view method, std::string_view data, int level = -1);

/// The file extension of a method: ".xz", ".zst", ".bz2", "" for none.
std::string_view compression_extension(std::string_view method);

} // namespace ferry
