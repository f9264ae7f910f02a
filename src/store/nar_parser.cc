#include "ferry/store/nar_parser.hh"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "ferry/util/error.hh"

namespace ferry {

namespace {

uint64_t read_u64_le(std::string_view bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i)
        v |= uint64_t(uint8_t(bytes[i])) << (8 * i);
    return v;
}

/// 's' in single quotes, non-printable bytes as \xNN, shortened when long: error messages stay one
/// readable line whatever the input holds.
std::string quote(std::string_view s) {
    constexpr size_t kMaxShown = 64;
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
        auto c = uint8_t(s[i]);
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out += char(c);
    }
    if (s.size() > kMaxShown) out += "...";
    return out + "'";
}

} // namespace

NarParser::NarParser(NarVisitor& visitor, NarLimits limits) : visitor_(visitor), limits_(limits) {}

size_t NarParser::consume(std::string_view chunk) {
    if (failed_) throw std::logic_error("NarParser used after an error");
    // Stays set if anything below throws, the visitor included.
    failed_ = true;
    size_t total = chunk.size();
    while (!chunk.empty() && state_ != State::done)
        step(chunk);
    failed_ = false;
    return total - chunk.size();
}

void NarParser::feed(std::string_view chunk) {
    if (consume(chunk) < chunk.size()) {
        failed_ = true;
        fail(offset_, "trailing data after the end of the archive");
    }
}

void NarParser::finish() {
    if (failed_) throw std::logic_error("NarParser used after an error");
    if (state_ == State::done) return;
    failed_ = true;
    fail(offset_, "truncated: input ends while expecting " + expecting());
}

void NarParser::step(std::string_view& chunk) {
    if (lex_ == Lex::contents) {
        stream_contents(chunk);
        return;
    }
    std::string_view item;
    if (!gather(chunk, item)) return;
    switch (lex_) {
    case Lex::length:
        on_length(read_u64_le(item));
        break;
    case Lex::body:
        on_body(item);
        break;
    case Lex::contents_pad:
        check_padding(item, lexeme_start_);
        end_contents();
        break;
    case Lex::contents:
        break;
    }
    buf_.clear();
}

bool NarParser::gather(std::string_view& chunk, std::string_view& item) {
    if (buf_.empty() && chunk.size() >= needed_) {
        item = chunk.substr(0, needed_);
        chunk.remove_prefix(needed_);
        offset_ += needed_;
        return true;
    }
    // needed_ is bounded by the string limits, so the buffer stays small.
    size_t n = std::min<uint64_t>(needed_ - buf_.size(), chunk.size());
    buf_.append(chunk.data(), n);
    chunk.remove_prefix(n);
    offset_ += n;
    if (buf_.size() < needed_) return false;
    item = buf_;
    return true;
}

void NarParser::start_lexeme(Lex lex, uint64_t needed) {
    lex_ = lex;
    needed_ = needed;
    lexeme_start_ = offset_;
    if (lex == Lex::length) string_start_ = offset_;
}

void NarParser::on_length(uint64_t value) {
    if (state_ == State::contents_size) {
        start_contents(value);
        return;
    }
    if (value > max_length())
        fail(string_start_,
             fmt::format("string of {} bytes where {} was expected exceeds the limit of {} bytes", value,
                         expecting(), max_length()));
    string_length_ = value;
    if (value == 0)
        on_string({});
    else
        start_lexeme(Lex::body, value + nar_padding(value));
}

void NarParser::on_body(std::string_view item) {
    check_padding(item.substr(string_length_), lexeme_start_ + string_length_);
    on_string(item.substr(0, string_length_));
}

void NarParser::on_string(std::string_view s) {
    switch (state_) {
    case State::magic:
        if (s != kNarMagic)
            fail(string_start_, fmt::format("bad magic {}, expected {}", quote(s), quote(kNarMagic)));
        state_ = State::node_open;
        break;
    case State::node_open:
    case State::entry_open:
        expect(s, "(", state_ == State::node_open ? State::node_type_tag : State::entry_name_tag);
        break;
    case State::node_type_tag:
        expect(s, "type", State::node_type);
        break;
    case State::node_type:
        on_node_type(s);
        break;
    case State::regular_field:
        on_regular_field(s);
        break;
    case State::executable_value:
        expect(s, "", State::contents_tag);
        break;
    case State::contents_tag:
        expect(s, "contents", State::contents_size);
        break;
    case State::symlink_target_tag:
        expect(s, "target", State::symlink_target);
        break;
    case State::symlink_target:
        on_symlink_target(s);
        break;
    case State::regular_close:
    case State::symlink_close:
        expect(s, ")", State::done);
        end_node();
        break;
    case State::dir_item:
        on_dir_item(s);
        break;
    case State::entry_name_tag:
        expect(s, "name", State::entry_name);
        break;
    case State::entry_name:
        on_entry_name(s);
        break;
    case State::entry_node_tag:
        expect(s, "node", State::node_open);
        break;
    case State::entry_close:
        expect(s, ")", State::dir_item);
        break;
    case State::contents_size:
    case State::done:
        throw std::logic_error("NarParser: string in a state that takes none");
    }
    start_lexeme(Lex::length, 8);
}

void NarParser::expect(std::string_view s, std::string_view token, State next) {
    if (s != token)
        fail(string_start_, fmt::format("expected {} but got {} in {}", expecting(), quote(s), where()));
    state_ = next;
}

void NarParser::on_node_type(std::string_view s) {
    if (s == "regular") {
        executable_ = false;
        state_ = State::regular_field;
    } else if (s == "symlink") {
        state_ = State::symlink_target_tag;
    } else if (s == "directory") {
        if (dirs_.size() >= limits_.max_depth)
            fail(string_start_,
                 fmt::format("directories nested deeper than {} levels at {}", limits_.max_depth, where()));
        visitor_.create_directory(path_);
        dirs_.push_back(DirFrame{path_.size(), {}});
        state_ = State::dir_item;
    } else {
        fail(string_start_, fmt::format("unknown node type {} at {}", quote(s), where()));
    }
}

void NarParser::on_regular_field(std::string_view s) {
    if (s == "executable") {
        executable_ = true;
        state_ = State::executable_value;
    } else if (s == "contents") {
        state_ = State::contents_size;
    } else if (s == ")") {
        fail(string_start_, fmt::format("missing 'contents' in regular file {}", where()));
    } else {
        fail(string_start_, fmt::format("unknown token {} in regular file {}", quote(s), where()));
    }
}

void NarParser::on_symlink_target(std::string_view s) {
    if (s.empty()) fail(string_start_, fmt::format("empty symlink target at {}", where()));
    if (s.find('\0') != std::string_view::npos)
        fail(string_start_, fmt::format("symlink target {} at {} contains NUL", quote(s), where()));
    visitor_.create_symlink(path_, s);
    state_ = State::symlink_close;
}

void NarParser::on_dir_item(std::string_view s) {
    if (s == "entry") {
        state_ = State::entry_open;
    } else if (s == ")") {
        visitor_.close_directory();
        dirs_.pop_back();
        end_node();
    } else {
        fail(string_start_,
             fmt::format("expected {} but got {} in directory {}", expecting(), quote(s), where()));
    }
}

void NarParser::on_entry_name(std::string_view s) {
    auto bad = [&](std::string_view why) {
        fail(string_start_, fmt::format("invalid entry name {} in directory {}: {}", quote(s), where(), why));
    };
    if (s.empty()) bad("empty");
    if (s == "." || s == "..") bad("reserved name");
    if (s.find('/') != std::string_view::npos) bad("contains '/'");
    if (s.find('\0') != std::string_view::npos) bad("contains NUL");
    std::string& last = dirs_.back().last_name;
    if (!last.empty() && s <= last) {
        if (s == last)
            fail(string_start_, fmt::format("duplicate entry {} in directory {}", quote(s), where()));
        fail(string_start_, fmt::format("entry {} is out of order after {} in directory {}", quote(s),
                                        quote(last), where()));
    }
    last.assign(s);
    if (!path_.empty()) path_ += '/';
    path_ += s;
    state_ = State::entry_node_tag;
}

void NarParser::start_contents(uint64_t size) {
    visitor_.create_regular_file(path_, executable_, size);
    remaining_ = size;
    lex_ = Lex::contents;
    lexeme_start_ = offset_;
    if (size == 0) end_contents();
}

void NarParser::stream_contents(std::string_view& chunk) {
    size_t n = std::min<uint64_t>(remaining_, chunk.size());
    visitor_.file_contents(chunk.substr(0, n));
    chunk.remove_prefix(n);
    offset_ += n;
    remaining_ -= n;
    if (remaining_ == 0) end_contents();
}

void NarParser::end_contents() {
    // Every string starts 8-aligned, so the padding still due follows from the offset alone.
    if (lex_ == Lex::contents && nar_padding(offset_) != 0) {
        start_lexeme(Lex::contents_pad, nar_padding(offset_));
        return;
    }
    visitor_.close_file();
    state_ = State::regular_close;
    start_lexeme(Lex::length, 8);
}

void NarParser::end_node() {
    if (dirs_.empty()) {
        state_ = State::done;
        return;
    }
    path_.resize(dirs_.back().path_length);
    state_ = State::entry_close;
}

void NarParser::check_padding(std::string_view pad, uint64_t pad_offset) const {
    for (size_t i = 0; i < pad.size(); ++i)
        if (pad[i] != 0) fail(pad_offset + i, fmt::format("non-zero padding byte 0x{:02x}", uint8_t(pad[i])));
}

size_t NarParser::max_length() const {
    switch (state_) {
    case State::entry_name:
        return limits_.max_name_length;
    case State::symlink_target:
        return limits_.max_target_length;
    default:
        return kNarMaxTokenLength;
    }
}

std::string NarParser::expecting() const {
    if (lex_ == Lex::contents) return fmt::format("{} more bytes of the contents of {}", remaining_, where());
    if (lex_ == Lex::contents_pad) return fmt::format("the padding of the contents of {}", where());
    switch (state_) {
    case State::magic:
        return quote(kNarMagic);
    case State::node_open:
    case State::entry_open:
        return "'('";
    case State::node_type_tag:
        return "'type'";
    case State::node_type:
        return "a node type";
    case State::regular_field:
        return "'executable' or 'contents'";
    case State::executable_value:
        return "''";
    case State::contents_tag:
        return "'contents'";
    case State::contents_size:
        return "the size of the contents";
    case State::symlink_target_tag:
        return "'target'";
    case State::symlink_target:
        return "a symlink target";
    case State::regular_close:
    case State::symlink_close:
    case State::entry_close:
        return "')'";
    case State::dir_item:
        return "'entry' or ')'";
    case State::entry_name_tag:
        return "'name'";
    case State::entry_name:
        return "an entry name";
    case State::entry_node_tag:
        return "'node'";
    case State::done:
        break;
    }
    return "nothing";
}

std::string NarParser::where() const {
    return path_.empty() ? std::string("the root") : quote(path_);
}

void NarParser::fail(uint64_t offset, const std::string& reason) const {
    throw FormatError("invalid NAR at offset {}: {}", offset, reason);
}

} // namespace ferry
