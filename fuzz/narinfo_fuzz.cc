/// `.narinfo` files as a binary cache serves them: NarInfo::parse either throws a ferry::Error or gives
/// an info whose text (as Nix writes it) parses back to the same fields.
#include <optional>

#include "ferry/cache/narinfo.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static const StoreDir dir;
    std::optional<NarInfo> parsed;
    try {
        parsed = NarInfo::parse(dir, fuzz::as_text(data, size), "fuzz.narinfo");
    } catch (const Error&) {
        return 0;
    }
    const NarInfo& info = *parsed;
    (void)info.fingerprint(dir);
    NarInfo again = NarInfo::parse(dir, info.to_string(dir), "printed");
    if (again.path != info.path || again.url != info.url || again.nar_hash != info.nar_hash ||
        again.nar_size != info.nar_size || again.references != info.references ||
        again.deriver != info.deriver || again.file_hash != info.file_hash ||
        again.signatures != info.signatures)
        fuzz::violated("narinfo print/parse round trip");
    return 0;
}
