/// ATerm `.drv` text: parse_derivation either throws a ferry::Error or gives a derivation that prints
/// back to text which parses to the same derivation (ATerm is printed byte for byte as Nix does).
#include "ferry/store/derivation.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static const StoreDir dir;
    Derivation drv;
    try {
        drv = parse_derivation(dir, fuzz::as_text(data, size), "fuzz");
    } catch (const Error&) {
        return 0;
    }
    std::string printed = unparse_derivation(dir, drv);
    if (parse_derivation(dir, printed, "fuzz") != drv) fuzz::violated("ATerm print/parse round trip");
    if (unparse_derivation(dir, parse_derivation(dir, printed, "fuzz")) != printed)
        fuzz::violated("ATerm printing is not stable");
    try {
        (void)derivation_store_path(dir, drv);
        (void)drv.references();
        for (const auto& [name, output] : drv.outputs)
            (void)output.fixed_hash();
    } catch (const Error&) {
    }
    return 0;
}
