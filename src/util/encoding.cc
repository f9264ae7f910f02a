#include "ferry/util/encoding.hh"

#include <array>

#include <sodium.h>

#include "ferry/util/error.hh"

namespace ferry {

namespace {

constexpr std::array<int8_t, 256> make_nix32_index() {
    std::array<int8_t, 256> index{};
    for (auto& i : index)
        i = -1;
    for (size_t i = 0; i < kNix32Chars.size(); ++i)
        index[static_cast<uint8_t>(kNix32Chars[i])] = int8_t(i);
    return index;
}
constexpr auto kNix32Index = make_nix32_index();

std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 80))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (text.size() > 80) out += "...";
    return out;
}

} // namespace

bool is_nix32_char(char c) noexcept {
    return kNix32Index[static_cast<uint8_t>(c)] >= 0;
}

std::string base16_encode(std::span<const uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 0xf];
    }
    return out;
}

std::vector<uint8_t> base16_decode(std::string_view text) {
    if (text.size() % 2 != 0) throw FormatError("invalid base-16 string '{}': odd length", printable(text));
    auto nibble = [&](char c) -> uint8_t {
        if (c >= '0' && c <= '9') return uint8_t(c - '0');
        if (c >= 'a' && c <= 'f') return uint8_t(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return uint8_t(c - 'A' + 10);
        throw FormatError("invalid base-16 string '{}': bad character", printable(text));
    };
    std::vector<uint8_t> out(text.size() / 2);
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = uint8_t(nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]));
    return out;
}

// Nix's base-32 reads the bytes as one little-endian number and prints it five bits at a time, most
// significant digit first.
std::string nix32_encode(std::span<const uint8_t> bytes) {
    size_t len = nix32_length(bytes.size());
    std::string out(len, '0');
    for (size_t n = 0; n < len; ++n) {
        size_t b = (len - 1 - n) * 5;
        size_t i = b / 8, j = b % 8;
        unsigned c = bytes[i] >> j;
        if (i + 1 < bytes.size()) c |= unsigned(bytes[i + 1]) << (8 - j);
        out[n] = kNix32Chars[c & 0x1f];
    }
    return out;
}

std::vector<uint8_t> nix32_decode(std::string_view text, size_t size) {
    if (text.size() != nix32_length(size))
        throw FormatError("invalid base-32 string '{}': expected {} characters", printable(text),
                          nix32_length(size));
    std::vector<uint8_t> out(size, 0);
    for (size_t n = 0; n < text.size(); ++n) {
        int digit = kNix32Index[static_cast<uint8_t>(text[text.size() - 1 - n])];
        if (digit < 0) throw FormatError("invalid base-32 string '{}': bad character", printable(text));
        size_t b = n * 5, i = b / 8, j = b % 8;
        out[i] |= uint8_t(digit << j);
        unsigned carry = unsigned(digit) >> (8 - j);
        if (i + 1 < size)
            out[i + 1] |= uint8_t(carry);
        else if (carry)
            throw FormatError("invalid base-32 string '{}': value too large", printable(text));
    }
    return out;
}

std::string base64_encode(std::span<const uint8_t> bytes) {
    std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

std::vector<uint8_t> base64_decode(std::string_view text) {
    std::vector<uint8_t> out(text.size() / 4 * 3 + 3);
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size())
        throw FormatError("invalid base-64 string '{}'", printable(text));
    out.resize(len);
    return out;
}

} // namespace ferry
