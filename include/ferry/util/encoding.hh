#pragma once
/// Byte-string encodings used by Nix: base16 (lower case), nix32 (Nix's own base-32) and base64.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// Nix's base-32 alphabet (no e, o, u, t).
inline constexpr std::string_view kNix32Chars = "0123456789abcdfghijklmnpqrsvwxyz";

std::string base16_encode(std::span<const uint8_t> bytes);
/// Throws FormatError on odd length or a non-hex character.
std::vector<uint8_t> base16_decode(std::string_view text);

/// Length of the nix32 text of `size` bytes.
constexpr size_t nix32_length(size_t size) {
    return (size * 8 + 4) / 5;
}
std::string nix32_encode(std::span<const uint8_t> bytes);
/// Decodes into exactly `size` bytes. Throws FormatError on a bad character, a wrong length, or bits set
/// beyond `size` bytes.
std::vector<uint8_t> nix32_decode(std::string_view text, size_t size);
/// Whether `c` is in the nix32 alphabet.
bool is_nix32_char(char c) noexcept;

/// Standard base64 with padding.
std::string base64_encode(std::span<const uint8_t> bytes);
/// Throws FormatError on bad input.
std::vector<uint8_t> base64_decode(std::string_view text);
constexpr size_t base64_length(size_t size) {
    return (size + 2) / 3 * 4;
}

inline std::span<const uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

} // namespace ferry
