// Nix's wire primitives (serve and worker protocols): little-endian u64, padded strings, lists.

#include "ferry/remote/wire.hh"

#include <optional>

namespace ferry {

namespace {
size_t padding(size_t len) {
    return (8 - len % 8) % 8;
}
} // namespace

WireWriter& WireWriter::u64(uint64_t value) {
    char buf[8];
    for (int i = 0; i < 8; ++i)
        buf[i] = static_cast<char>((value >> (8 * i)) & 0xff);
    out_.append(buf, 8);
    return *this;
}

WireWriter& WireWriter::str(std::string_view value) {
    u64(value.size());
    out_.append(value);
    out_.append(padding(value.size()), '\0');
    return *this;
}

WireWriter& WireWriter::strings(const std::vector<std::string>& values) {
    return string_set(values);
}

WireWriter& WireWriter::path_set(const StoreDir& dir, const StorePathSet& paths) {
    u64(paths.size());
    for (const auto& p : paths)
        path(dir, p);
    return *this;
}

bool WireCursor::need(size_t n) {
    if (short_) return false;
    if (data_.size() - pos_ < n) {
        short_ = true;
        return false;
    }
    return true;
}

uint64_t WireCursor::u64(std::string_view) {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= uint64_t(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return v;
}

std::string WireCursor::str(std::string_view what) {
    if (!need(8)) return {};
    size_t start = pos_;
    uint64_t len = u64(what);
    if (len > limits_.max_string)
        throw ProtocolError("{} is {} bytes long, more than the {} allowed", what, len, limits_.max_string);
    size_t total = len + padding(len);
    if (!need(total)) {
        pos_ = start;
        return {};
    }
    std::string value(data_.substr(pos_, len));
    for (size_t i = len; i < total; ++i)
        if (data_[pos_ + i] != 0) throw ProtocolError("{} has non-zero padding", what);
    pos_ += total;
    return value;
}

std::vector<std::string> WireCursor::strings(std::string_view what) {
    uint64_t n = u64(what);
    if (n > limits_.max_count)
        throw ProtocolError("{} has {} entries, more than the {} allowed", what, n, limits_.max_count);
    std::vector<std::string> values;
    for (uint64_t i = 0; i < n && !short_; ++i)
        values.push_back(str(what));
    return values;
}

bool WireCursor::boolean(std::string_view what) {
    uint64_t v = u64(what);
    if (v > 1) throw ProtocolError("{} is {}, not 0 or 1", what, v);
    return v == 1;
}

StorePath WireCursor::path(const StoreDir& dir, std::string_view what) {
    auto p = optional_path(dir, what);
    if (!p && !short_) throw ProtocolError("{} is empty, not a store path", what);
    return p ? *p : StorePath("00000000000000000000000000000000-x");
}

std::optional<StorePath> WireCursor::optional_path(const StoreDir& dir, std::string_view what) {
    std::string s = str(what);
    if (short_ || s.empty()) return std::nullopt;
    auto p = dir.try_parse(s);
    if (!p) throw ProtocolError("{} '{}' is not a store path in '{}'", what, s, dir.dir());
    return p;
}

StorePathSet WireCursor::path_set(const StoreDir& dir, std::string_view what) {
    StorePathSet paths;
    for (auto& s : strings(what)) {
        if (short_) break;
        auto p = dir.try_parse(s);
        if (!p) throw ProtocolError("{} '{}' is not a store path in '{}'", what, s, dir.dir());
        paths.insert(*p);
    }
    return paths;
}

std::string_view WireCursor::raw(size_t n) {
    if (!need(n)) return {};
    auto v = data_.substr(pos_, n);
    pos_ += n;
    return v;
}

} // namespace ferry
