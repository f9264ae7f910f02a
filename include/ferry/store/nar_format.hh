#pragma once
/// Facts of the NAR wire format (`nix-store --dump`), shared by the parser and the dumper.
///
/// A NAR is a sequence of strings: each is a u64 little-endian length, the bytes, then zero bytes up to a
/// multiple of 8. The grammar is
///   nar       = "nix-archive-1" node
///   node      = "(" "type" ( regular | symlink | directory ) ")"
///   regular   = "regular" [ "executable" "" ] "contents" <u64 size> <bytes, padded>
///   symlink   = "symlink" "target" <target>
///   directory = "directory" { "entry" "(" "name" <name> "node" node ")" }
/// with the entries of a directory in strictly increasing byte order of their names.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ferry {

inline constexpr std::string_view kNarMagic = "nix-archive-1";

/// Longest entry name and symlink target the parser accepts.
inline constexpr size_t kNarMaxNameLength = 4096;
inline constexpr size_t kNarMaxTargetLength = 4096;
/// Longest keyword ("nix-archive-1", "directory", …) the parser accepts where it expects one.
inline constexpr size_t kNarMaxTokenLength = 16;
/// Deepest directory nesting the parser accepts by default.
inline constexpr size_t kNarMaxDepth = 1024;

/// Zero bytes that follow `size` bytes of a string to reach a multiple of 8.
constexpr size_t nar_padding(uint64_t size) {
    return size_t((8 - size % 8) % 8);
}

} // namespace ferry
