#pragma once
/// Serialising a file system tree as a NAR, exactly as `nix-store --dump` does.

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

namespace ferry {

/// Receives consecutive pieces of a NAR. The view is valid only during the call.
using NarSink = std::function<void(std::string_view)>;

/// Size of the pieces dump_path() hands to its sink (the last one may be shorter).
inline constexpr size_t kNarDumpChunkSize = 256 * 1024;

/// Receives a dump's output buffers by ownership, for a consumer that works on them on another thread
/// without copying them: the dumper fills a buffer, hands it over, and goes on with the one it gets back.
class NarBufferSink {
public:
    virtual ~NarBufferSink() = default;
    /// Takes `buffer`, whose first `size` bytes (1 to kNarDumpChunkSize) are the next piece of the NAR,
    /// and returns a buffer of kNarDumpChunkSize bytes for the dumper to fill next (it may be the same
    /// one once consumed). Called on the dumping thread.
    virtual std::unique_ptr<char[]> exchange(std::unique_ptr<char[]> buffer, size_t size) = 0;
};

/// Writes the NAR of `path` to `sink`: directories with their entries sorted by name as raw bytes,
/// regular files with their contents and whether the owner may execute them, symlinks (never
/// followed, `path` itself included) with their targets. Nothing else of the metadata is recorded.
/// Files are read with large reads straight into the output buffer, directories walked through their
/// descriptors. Throws Error naming the path for an unsupported file type (socket, FIFO, device) or a
/// file that changes size while being read, SysError for failed system calls; `sink`'s exceptions
/// propagate. Runs on the calling thread.
void dump_path(const std::filesystem::path& path, const NarSink& sink);
/// As above, handing over whole buffers instead of views.
void dump_path(const std::filesystem::path& path, NarBufferSink& sink);

} // namespace ferry
