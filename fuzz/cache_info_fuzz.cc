/// `nix-cache-info`: CacheInfo::parse either throws a ferry::Error or gives fields that print back.
#include "ferry/cache/narinfo.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    CacheInfo info;
    try {
        info = CacheInfo::parse(fuzz::as_text(data, size), "fuzz/nix-cache-info");
    } catch (const Error&) {
        return 0;
    }
    CacheInfo again = CacheInfo::parse(info.to_string(), "printed");
    if (again.store_dir != info.store_dir || again.priority != info.priority ||
        again.want_mass_query != info.want_mass_query)
        fuzz::violated("nix-cache-info print/parse round trip");
    return 0;
}
