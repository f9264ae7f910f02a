#pragma once
/// What the libFuzzer targets share: the input as text, and the one rule of every target: a parser of
/// outside input either returns or throws a ferry::Error; anything else (another exception, a crash, a
/// sanitizer report, a broken round trip) is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ferry::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// A property of a successful parse does not hold: report it and stop (libFuzzer keeps the input).
[[noreturn]] inline void violated(const char* what) {
    std::fprintf(stderr, "fuzz: property violated: %s\n", what);
    std::abort();
}

} // namespace ferry::fuzz
