#include "ferry/store/export_stream.hh"

#include <cstring>

#include "ferry/util/error.hh"

namespace ferry {

namespace {

constexpr uint64_t kExportMagic = 0x4558494e; // "NIXE"

uint64_t read_le64(std::string_view bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i)
        v |= uint64_t(uint8_t(bytes[i])) << (8 * i);
    return v;
}

uint64_t padded(uint64_t n) {
    return (n + 7) & ~uint64_t(7);
}

} // namespace

ExportParser::ExportParser(const StoreDir& dir, ExportVisitor& visitor, ExportLimits limits)
    : dir_(dir), visitor_(visitor), limits_(limits) {}

ExportParser::~ExportParser() = default;

void ExportParser::fail(const std::string& reason) const {
    throw FormatError("export stream: {} (at byte {})", reason, field_start_);
}

void ExportParser::feed(std::string_view chunk) {
    if (failed_) throw std::logic_error("ExportParser used after an error");
    try {
        while (!chunk.empty()) {
            if (state_ == State::done) {
                field_start_ = offset_;
                fail("data after the end of the stream");
            }
            step(chunk);
        }
    } catch (...) {
        failed_ = true;
        throw;
    }
}

size_t ExportParser::consume(std::string_view chunk) {
    if (failed_) throw std::logic_error("ExportParser used after an error");
    size_t size = chunk.size();
    try {
        while (!chunk.empty() && state_ != State::done)
            step(chunk);
    } catch (...) {
        failed_ = true;
        throw;
    }
    return size - chunk.size();
}

void ExportParser::finish() {
    if (failed_) throw std::logic_error("ExportParser used after an error");
    if (state_ != State::done) {
        failed_ = true;
        field_start_ = offset_;
        fail(state_ == State::nar ? "truncated inside a NAR" : "truncated");
    }
}

bool ExportParser::take_number(std::string_view& chunk) {
    if (buf_.empty()) field_start_ = offset_;
    size_t n = std::min(chunk.size(), 8 - buf_.size());
    buf_.append(chunk.substr(0, n));
    chunk.remove_prefix(n);
    offset_ += n;
    if (buf_.size() < 8) return false;
    number_ = read_le64(buf_);
    buf_.clear();
    return true;
}

bool ExportParser::take_string(std::string_view& chunk, size_t max_length) {
    if (!string_length_) {
        if (!take_number(chunk)) return false;
        if (number_ > max_length)
            fail("a string of " + std::to_string(number_) + " bytes, more than allowed");
        string_length_ = number_;
    }
    uint64_t need = padded(*string_length_);
    size_t n = std::min<uint64_t>(chunk.size(), need - buf_.size());
    buf_.append(chunk.substr(0, n));
    chunk.remove_prefix(n);
    offset_ += n;
    if (buf_.size() < need) return false;
    for (size_t i = *string_length_; i < need; ++i)
        if (buf_[i] != 0) fail("non-zero padding");
    string_.assign(buf_, 0, *string_length_);
    buf_.clear();
    string_length_.reset();
    return true;
}

void ExportParser::step(std::string_view& chunk) {
    switch (state_) {
    case State::nar:
        feed_nar(chunk);
        return;
    case State::path:
    case State::reference:
    case State::deriver:
        if (take_string(chunk, limits_.max_path_length)) on_string(std::move(string_));
        return;
    case State::signature:
        if (take_string(chunk, limits_.max_signature_length)) on_string(std::move(string_));
        return;
    default:
        if (take_number(chunk)) on_number(number_);
        return;
    }
}

void ExportParser::feed_nar(std::string_view& chunk) {
    size_t n = with_context(fmt::format("export stream: in the NAR starting at byte {}", field_start_),
                            [&] { return nar_->consume(chunk); });
    chunk.remove_prefix(n);
    offset_ += n;
    if (!nar_->done()) return;
    nar_result_ = nar_->finish();
    nar_.reset();
    state_ = State::magic;
}

void ExportParser::on_number(uint64_t value) {
    switch (state_) {
    case State::next:
        if (value == 0) {
            state_ = State::done;
        } else if (value == 1) {
            nar_.emplace(visitor_.begin_path(), HashAlgo::sha256);
            field_start_ = offset_;
            state_ = State::nar;
        } else {
            fail("expected 1 or 0 before a path, got " + std::to_string(value) +
                 " (not a stream made by 'nix-store --export')");
        }
        return;
    case State::magic:
        if (value != kExportMagic) fail("wrong magic number after a NAR");
        state_ = State::path;
        return;
    case State::ref_count:
        if (value > limits_.max_references) fail(std::to_string(value) + " references, more than allowed");
        refs_left_ = value;
        state_ = refs_left_ ? State::reference : State::deriver;
        return;
    case State::sig_flag:
        if (value > 1) fail("expected 0 or 1 for the signature flag, got " + std::to_string(value));
        if (value == 1) {
            state_ = State::signature;
            return;
        }
        end_record();
        return;
    default:
        fail("internal error: a number in the wrong state");
    }
}

void ExportParser::end_record() {
    state_ = State::next;
    ExportedPath record{std::move(*path_), std::move(references_), std::move(deriver_), nar_result_};
    path_.reset();
    references_.clear();
    deriver_.reset();
    visitor_.end_path(std::move(record));
}

void ExportParser::on_string(std::string value) {
    switch (state_) {
    case State::path:
        path_ = parse_path(value, "path");
        state_ = State::ref_count;
        return;
    case State::reference:
        references_.insert(parse_path(value, "reference"));
        if (--refs_left_ == 0) state_ = State::deriver;
        return;
    case State::deriver:
        if (!value.empty()) deriver_ = parse_path(value, "deriver");
        state_ = State::sig_flag;
        return;
    case State::signature:
        // A legacy signature, which nothing checks any more (as in Nix).
        end_record();
        return;
    default:
        fail("internal error: a string in the wrong state");
    }
}

StorePath ExportParser::parse_path(std::string_view text, std::string_view what) const {
    auto path = dir_.try_parse(text);
    if (!path) fail(fmt::format("the {} '{}' is not a store path", what, text));
    return *path;
}

} // namespace ferry
