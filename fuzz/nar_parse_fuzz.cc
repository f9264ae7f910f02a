/// The NAR push parser (substitution, `ferry store restore`, imports): whatever the bytes and however
/// they are split into chunks, it throws a ferry::Error or accepts, and the split never changes which.
#include "ferry/store/nar.hh"
#include "ferry/store/nar_parser.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace {

/// Parses `nar` in chunks whose sizes cycle through `sizes` (1…256 bytes); whether it was accepted.
bool parse_chunked(std::string_view nar, std::string_view sizes) {
    ferry::NullNarVisitor visitor;
    ferry::NarParser parser(visitor);
    try {
        size_t i = 0;
        while (!nar.empty()) {
            size_t n = sizes.empty() ? nar.size() : static_cast<uint8_t>(sizes[i++ % sizes.size()]) + 1;
            n = std::min(n, nar.size());
            parser.feed(nar.substr(0, n));
            nar.remove_prefix(n);
        }
        parser.finish();
        return true;
    } catch (const ferry::Error&) {
        return false;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::string_view nar = fuzz::as_text(data, size);
    // Chunk sizes drawn from the input itself, so that a seed NAR is a NAR as it is.
    std::string_view sizes = nar.substr(nar.size() / 2, std::min<size_t>(nar.size() - nar.size() / 2, 5));

    bool whole = parse_chunked(nar, {});
    if (parse_chunked(nar, sizes) != whole) fuzz::violated("the chunking changed whether the NAR parses");
    try {
        NarHashResult result = validate_nar(nar);
        if (!whole) fuzz::violated("validate_nar accepted what the parser refused");
        if (result.nar_size != nar.size()) fuzz::violated("validate_nar's size is not the archive's");
    } catch (const Error&) {
        if (whole) fuzz::violated("validate_nar refused what the parser accepted");
    }
    // An archive embedded in a longer stream: consume() stops at its end.
    NullNarVisitor visitor;
    NarParser parser(visitor);
    try {
        size_t used = parser.consume(nar);
        if (used > nar.size()) fuzz::violated("consume() used more than it was given");
        if (whole && (!parser.done() || used != nar.size())) fuzz::violated("consume() stopped early");
    } catch (const Error&) {
        if (whole) fuzz::violated("consume() refused what feed() accepted");
    }
    return 0;
}
