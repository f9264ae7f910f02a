/// JSON derivations (`ferry derivation add FILE.json`, as `nix show-derivation` writes them): any JSON
/// value either gives a derivation or a ferry::Error naming the field, never a JSON library exception.
#include <nlohmann/json.hpp>

#include "ferry/store/derivation.hh"
#include "ferry/store/derivation_json.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static const StoreDir dir;
    auto json = nlohmann::json::parse(fuzz::as_text(data, size), nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return 0;
    try {
        Derivation drv = derivation_from_json(dir, json, "fuzz");
        (void)unparse_derivation(dir, drv);
        if (json.is_object() && json.size() == 1) {
            // `nix show-derivation`'s form: { "<drv path>": { … } }
            (void)derivation_from_json(dir, json.begin().value(), "fuzz");
        }
    } catch (const Error&) {
    }
    return 0;
}
