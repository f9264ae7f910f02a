#pragma once
/// NARs (Nix ARchives): the streaming operations built on the parser, the restorer and the dumper —
/// NAR hashes of trees, hashing while unpacking, checking a NAR without unpacking it, and the shells
/// that read or write file descriptors. Include this header for the whole NAR module.

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "ferry/store/nar_dump.hh"
#include "ferry/store/nar_format.hh"
#include "ferry/store/nar_parser.hh"
#include "ferry/store/nar_restore.hh"
#include "ferry/util/hash.hh"

namespace ferry {

/// The hash of a NAR and its size in bytes (Nix's narHash and narSize).
struct NarHashResult {
    Hash hash;
    uint64_t nar_size = 0;
};

/// The NAR hash and size of the tree at `path` (as `nix-hash --type <algo> path`), streaming the dump
/// into the hash without holding it. Blocking; once the NAR passes a few MiB it hashes on a second,
/// private thread while the calling thread goes on dumping (joined before returning, also on error).
/// Throws like dump_path().
NarHashResult hash_path(HashAlgo algo, const std::filesystem::path& path);

/// A NarParser that also hashes every byte it parses, so one pass over a NAR stream both unpacks (or
/// checks) it and computes its NAR hash. Not thread-safe.
class HashingNarParser {
public:
    /// `visitor` must outlive the parser.
    HashingNarParser(NarVisitor& visitor, HashAlgo algo, NarLimits limits = {});

    /// As NarParser::feed(); the bytes are hashed too.
    void feed(std::string_view chunk);
    /// As NarParser::consume(); only the bytes that belong to the archive are hashed.
    size_t consume(std::string_view chunk);
    /// As NarParser::finish(), then the hash and size of the archive. Call once.
    NarHashResult finish();
    bool done() const noexcept { return parser_.done(); }

private:
    NarParser parser_;
    HashSink hash_;
};

/// Checks that `nar` holds exactly one well-formed NAR, without unpacking it; returns its hash and
/// size. Throws FormatError.
NarHashResult validate_nar(std::string_view nar, HashAlgo algo = HashAlgo::sha256);

/// Copies a NAR from `in_fd` (read until end of file) to `sink`, checking it on the way; returns its
/// hash and size. Bytes reach the sink before the whole archive has been checked: on FormatError the
/// sink's receiver must discard what it got.
NarHashResult copy_nar(int in_fd, const NarSink& sink, HashAlgo algo = HashAlgo::sha256);

/// Writes the NAR of `path` to `fd`; returns the NAR size. Throws like dump_path(), SysError for
/// failed writes.
uint64_t dump_path_to_fd(const std::filesystem::path& path, int fd);

/// Unpacks the NAR read from `fd` (until end of file) at `dest`, which must not exist, hashing it in
/// the same pass; returns the NAR hash and size. On any error nothing is left at `dest`.
NarHashResult restore_nar_from_fd(int fd, const std::filesystem::path& dest,
                                  HashAlgo algo = HashAlgo::sha256);

} // namespace ferry
