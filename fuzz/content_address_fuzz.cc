/// Content addresses of fixed-output and text outputs, as a derivation states them (outputHashAlgo
/// "r:sha256", "sha256", "text:sha256"…, and the hash): either a ferry::Error or an expected hash whose
/// content address and store path can be computed and whose method/algo text reads back the same.
#include "ferry/store/content_address.hh"
#include "ferry/store/derivation.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static const StoreDir dir;
    std::string_view input = fuzz::as_text(data, size);
    // "<hashAlgo>\n<hash>": the two ATerm fields of an output.
    size_t nl = input.find('\n');
    DerivationOutput output;
    output.hash_algo = std::string(input.substr(0, nl));
    output.hash = nl == std::string_view::npos ? "" : std::string(input.substr(nl + 1));
    try {
        auto fixed = output.fixed_hash();
        if (!fixed) return 0;
        DerivationOutput again;
        again.hash_algo = fixed->method_algo();
        again.hash = fixed->hash.to_base16();
        auto reread = again.fixed_hash();
        if (!reread || reread->hash != fixed->hash || reread->method != fixed->method ||
            reread->text != fixed->text)
            fuzz::violated("method/algo round trip");
        if (fixed->text) {
            (void)text_ca(fixed->hash);
        } else {
            (void)fixed_output_ca(fixed->method, fixed->hash);
            (void)dir.make_fixed_output_path(fixed->method, fixed->hash, "fuzz");
        }
    } catch (const Error&) {
    }
    return 0;
}
