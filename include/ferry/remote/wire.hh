#pragma once
/// Nix's wire primitives, as the serve and worker protocols write them: numbers are 64-bit little-endian;
/// a string is its length and its bytes, zero-padded to a multiple of 8; a list of strings (or a path
/// set) is its count and each string. I/O-free: WireWriter appends to a string, WireCursor reads from
/// the bytes received so far and says when they are not enough yet, so that a shell can read more and
/// decode again.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/store/store_path.hh"
#include "ferry/util/error.hh"

namespace ferry {

/// The peer broke the protocol: a wrong magic, a bad field, a bound exceeded. Names the field.
class ProtocolError : public Error {
public:
    using Error::Error;
};

/// Appends wire fields to `out`, which the caller owns. Not thread-safe.
class WireWriter {
public:
    explicit WireWriter(std::string& out) : out_(out) {}
    WireWriter& u64(uint64_t value);
    WireWriter& str(std::string_view value);
    WireWriter& strings(const std::vector<std::string>& values);
    template <typename Set> WireWriter& string_set(const Set& values) {
        u64(values.size());
        for (const auto& v : values)
            str(v);
        return *this;
    }
    WireWriter& path(const StoreDir& dir, const StorePath& path) { return str(dir.print(path)); }
    WireWriter& path_set(const StoreDir& dir, const StorePathSet& paths);

private:
    std::string& out_;
};

/// Bounds on what a peer may send, so that hostile input costs bounded memory.
struct WireLimits {
    size_t max_string = 64 << 20;
    uint64_t max_count = 1 << 22;
};

/// Reads wire fields from `data`, the bytes received so far. When they end inside a field, short() turns
/// true and every later read returns an empty value: decode again once more bytes have arrived. Throws
/// ProtocolError for malformed fields (non-zero padding, a bound exceeded, an invalid store path), naming
/// `what`. The bytes must outlive the cursor. Not thread-safe.
class WireCursor {
public:
    explicit WireCursor(std::string_view data, WireLimits limits = {}) : data_(data), limits_(limits) {}

    uint64_t u64(std::string_view what);
    std::string str(std::string_view what);
    std::vector<std::string> strings(std::string_view what);
    /// A number that must be 0 or 1 (Nix writes bools as numbers).
    bool boolean(std::string_view what);
    StorePath path(const StoreDir& dir, std::string_view what);
    /// A path or "" (none).
    std::optional<StorePath> optional_path(const StoreDir& dir, std::string_view what);
    StorePathSet path_set(const StoreDir& dir, std::string_view what);
    /// `n` raw bytes (a NAR's slice); a view into the data.
    std::string_view raw(size_t n);

    /// Whether the data ended inside a field.
    bool short_input() const noexcept { return short_; }
    /// Bytes read so far (meaningful when !short_input()).
    size_t consumed() const noexcept { return pos_; }
    std::string_view rest() const noexcept { return data_.substr(pos_); }

private:
    bool need(size_t n);

    std::string_view data_;
    WireLimits limits_;
    size_t pos_ = 0;
    bool short_ = false;
};

} // namespace ferry
