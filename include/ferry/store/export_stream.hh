#pragma once
/// Nix's export format, as `nix-store --export` writes it and `nix-store --import` and the serve
/// protocol's ImportPaths read it: for each path the number 1, the path's NAR, the magic 0x4558494e
/// ("NIXE"), the path, its references, its deriver ("" for none) and 0 (or 1 and a legacy signature,
/// ignored); after the last path the number 0. Numbers are 64-bit little-endian; strings are a length
/// and their bytes, zero-padded to a multiple of 8. The NAR comes before the path it belongs to, and the
/// stream carries no hash: the reader computes it.
///
/// ExportParser is the I/O-free push parser of this framing (bytes in through feed(), events out through
/// an ExportVisitor); import_paths() in import_paths.hh is the shell that makes the paths valid.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ferry/store/nar.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

/// One path's record, complete: what the stream says after the NAR, and the NAR's hash and size as the
/// parser computed them.
struct ExportedPath {
    StorePath path;
    StorePathSet references;
    std::optional<StorePath> deriver;
    NarHashResult nar;
};

/// Receives the paths of an export stream, in order. An exception thrown here aborts the parse and
/// propagates out of ExportParser::feed().
class ExportVisitor {
public:
    virtual ~ExportVisitor() = default;
    /// A path's NAR begins (its name is not known yet); returns the visitor of its tree, which must stay
    /// valid until end_path() or until the parser is destroyed.
    virtual NarVisitor& begin_path() = 0;
    /// The NAR begun last and the record after it are complete.
    virtual void end_path(ExportedPath path) = 0;
};

/// Bounds on the record fields, so that hostile input costs bounded memory.
struct ExportLimits {
    size_t max_path_length = 4096;
    uint64_t max_references = 1 << 20;
    size_t max_signature_length = 4096;
};

/// The state machine of one export stream. Keeps at most one field (≤ the limits) buffered; NAR bytes
/// pass through to the visitor as slices of the fed chunks. Not thread-safe. After it has thrown, the
/// parser is unusable.
class ExportParser {
public:
    /// `dir` (for parsing the paths) and `visitor` must outlive the parser.
    ExportParser(const StoreDir& dir, ExportVisitor& visitor, ExportLimits limits = {});
    ~ExportParser();
    ExportParser(const ExportParser&) = delete;
    ExportParser& operator=(const ExportParser&) = delete;

    /// Parses the next bytes; chunk boundaries may fall anywhere. Throws FormatError naming the reason
    /// and the byte offset (bytes after the final 0 included).
    void feed(std::string_view chunk);
    /// Parses the next bytes up to the end of the stream (the final 0) and no further; returns how many
    /// it took. For a stream followed by other data (the serve protocol's ImportPaths). Throws as feed().
    size_t consume(std::string_view chunk);
    /// Declares the end of input; throws FormatError when the stream is incomplete.
    void finish();
    /// Whether the final 0 has been read.
    bool done() const noexcept { return state_ == State::done; }
    /// Bytes parsed so far.
    uint64_t offset() const noexcept { return offset_; }

private:
    enum class State : uint8_t {
        next,
        nar,
        magic,
        path,
        ref_count,
        reference,
        deriver,
        sig_flag,
        signature,
        done
    };

    void step(std::string_view& chunk);
    void feed_nar(std::string_view& chunk);
    /// Gathers the bytes of the current number; true once it is complete (in `number_`).
    bool take_number(std::string_view& chunk);
    /// Gathers the current string (length, bytes, padding); true once it is complete (in `string_`).
    bool take_string(std::string_view& chunk, size_t max_length);
    void on_number(uint64_t value);
    void on_string(std::string value);
    StorePath parse_path(std::string_view text, std::string_view what) const;
    /// Hands the complete record to the visitor and expects the next path or the end.
    void end_record();
    [[noreturn]] void fail(const std::string& reason) const;

    const StoreDir& dir_;
    ExportVisitor& visitor_;
    ExportLimits limits_;
    State state_ = State::next;
    bool failed_ = false;
    uint64_t offset_ = 0;
    uint64_t field_start_ = 0;
    std::string buf_;
    std::optional<uint64_t> string_length_;
    uint64_t number_ = 0;
    std::string string_;
    uint64_t refs_left_ = 0;
    std::optional<HashingNarParser> nar_;
    // The record being read.
    NarHashResult nar_result_;
    std::optional<StorePath> path_;
    StorePathSet references_;
    std::optional<StorePath> deriver_;
};

} // namespace ferry
