#pragma once
/// An I/O-free push parser for NARs: bytes go in through feed() in chunks of any size, events come out
/// through a NarVisitor. The parser checks the whole format (magic, padding, keywords, entry order and
/// names, lengths, nesting, truncation, trailing data) and throws FormatError naming the reason and the
/// byte offset.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/store/nar_format.hh"

namespace ferry {

/// Receives the tree described by a NAR, in order. Paths are relative to the root of the archive, with
/// '/' between components; the root itself is "". Every name has been checked (non-empty, no '/', no
/// NUL, not "." or ".."), so `path`'s last component is safe to create. The string_views are valid only
/// during the call. An exception thrown by a visitor aborts the parse and propagates out of feed().
class NarVisitor {
public:
    virtual ~NarVisitor() = default;
    /// A directory; its entries follow, then close_directory().
    virtual void create_directory(std::string_view path) = 0;
    /// The end of the innermost open directory.
    virtual void close_directory() = 0;
    /// A regular file of `size` bytes; file_contents() follows (not at all when `size` is 0), then
    /// close_file().
    virtual void create_regular_file(std::string_view path, bool executable, uint64_t size) = 0;
    /// The next slice of the open file's contents (a slice of the caller's buffer, never empty).
    virtual void file_contents(std::string_view chunk) = 0;
    /// All of the open file's contents have been passed.
    virtual void close_file() = 0;
    /// A symbolic link to `target` (non-empty, no NUL), not interpreted.
    virtual void create_symlink(std::string_view path, std::string_view target) = 0;
};

/// A visitor that does nothing: parsing into it checks a NAR without unpacking it.
class NullNarVisitor final : public NarVisitor {
public:
    void create_directory(std::string_view) override {}
    void close_directory() override {}
    void create_regular_file(std::string_view, bool, uint64_t) override {}
    void file_contents(std::string_view) override {}
    void close_file() override {}
    void create_symlink(std::string_view, std::string_view) override {}
};

/// Bounds the parser enforces, so that hostile input costs bounded memory.
struct NarLimits {
    size_t max_name_length = kNarMaxNameLength;
    size_t max_target_length = kNarMaxTargetLength;
    /// Directories nested inside the root directory, the root counting as 1.
    size_t max_depth = kNarMaxDepth;
};

/// The NAR state machine. One object parses one NAR; it does no I/O and keeps at most one string
/// (≤ the limits) buffered, passing file contents through as slices of the fed chunks. Not thread-safe.
/// After it has thrown, the parser is unusable (further calls throw std::logic_error).
class NarParser {
public:
    /// `visitor` must outlive the parser.
    explicit NarParser(NarVisitor& visitor, NarLimits limits = {});

    /// Parses the next bytes; chunk boundaries may fall anywhere. Throws FormatError on malformed input,
    /// including bytes after the end of the archive.
    void feed(std::string_view chunk);
    /// Like feed(), but stops at the end of the archive: returns how many bytes of `chunk` belong to it
    /// (fewer than `chunk.size()` only when the archive ended inside `chunk`). For NARs embedded in a
    /// longer stream.
    size_t consume(std::string_view chunk);
    /// Declares the end of input; throws FormatError when the archive is incomplete.
    void finish();

    /// Whether the whole archive has been parsed.
    bool done() const noexcept { return state_ == State::done; }
    /// Bytes of the archive parsed so far (the NAR size once done()).
    uint64_t nar_size() const noexcept { return offset_; }

private:
    /// Where we are in the grammar: what the next string means.
    enum class State : uint8_t {
        magic,
        node_open,
        node_type_tag,
        node_type,
        regular_field,
        executable_value,
        contents_tag,
        contents_size,
        regular_close,
        symlink_target_tag,
        symlink_target,
        symlink_close,
        dir_item,
        entry_open,
        entry_name_tag,
        entry_name,
        entry_node_tag,
        entry_close,
        done,
    };
    /// What the bytes at hand are: a length field, a string body with its padding, file contents, or
    /// the padding after them.
    enum class Lex : uint8_t { length, body, contents, contents_pad };

    struct DirFrame {
        size_t path_length; // length of path_ for this directory
        std::string last_name;
    };

    void step(std::string_view& chunk);
    bool gather(std::string_view& chunk, std::string_view& item);
    void start_lexeme(Lex lex, uint64_t needed);
    void on_length(uint64_t value);
    void on_body(std::string_view item);
    void on_string(std::string_view s);
    void on_node_type(std::string_view s);
    void on_regular_field(std::string_view s);
    void on_dir_item(std::string_view s);
    void on_entry_name(std::string_view s);
    void on_symlink_target(std::string_view s);
    void start_contents(uint64_t size);
    void stream_contents(std::string_view& chunk);
    void end_contents();
    void end_node();
    void expect(std::string_view s, std::string_view token, State next);
    void check_padding(std::string_view pad, uint64_t pad_offset) const;
    size_t max_length() const;
    std::string expecting() const;
    std::string where() const;
    [[noreturn]] void fail(uint64_t offset, const std::string& reason) const;

    NarVisitor& visitor_;
    NarLimits limits_;
    State state_ = State::magic;
    Lex lex_ = Lex::length;
    bool failed_ = false;
    bool executable_ = false;
    uint64_t offset_ = 0;        // bytes consumed
    uint64_t lexeme_start_ = 0;  // offset of the current lexeme
    uint64_t string_start_ = 0;  // offset of the current string's length field
    uint64_t needed_ = 8;        // bytes of the current lexeme (length, body or padding)
    uint64_t string_length_ = 0; // length of the string whose body is being read
    uint64_t remaining_ = 0;     // file contents still to come
    std::string buf_;            // a lexeme split across chunks
    std::string path_;           // current node, relative to the root
    std::vector<DirFrame> dirs_; // open directories, outermost first
};

} // namespace ferry
