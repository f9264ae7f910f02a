#pragma once
/// Streaming compression (push style: feed plain chunks, receive compressed chunks), for files written
/// as they are produced: build logs, bzip2-compressed as Nix 2.8 writes them (`compress-build-log`).
/// Not thread-safe per object.

#include <memory>
#include <string_view>

#include "ferry/util/compression.hh"

namespace ferry {

class Compressor {
public:
    virtual ~Compressor() = default;
    /// Compresses `chunk`, passing output to the sink given at creation (whenever a block is full).
    virtual void feed(std::string_view chunk) = 0;
    /// The input has ended: the rest of the stream goes to the sink. Nothing may be fed afterwards.
    virtual void finish() = 0;
};

/// "bzip2" or "none" (the sink receives the input as it is). Throws FormatError for another method.
std::unique_ptr<Compressor> make_compressor(std::string_view method, ByteSink sink);

} // namespace ferry
