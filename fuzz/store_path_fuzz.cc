/// Store paths from outside (narinfo fields, derivations, the command line, export streams): a parse
/// either throws a ferry::Error or gives a path that prints back to the same text, with a valid hash
/// part and name.
#include "ferry/store/store_path.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static const StoreDir dir;
    std::string_view text = fuzz::as_text(data, size);
    try {
        StorePath path = dir.parse(text);
        if (dir.print(path) != text) fuzz::violated("a parsed store path prints differently");
        if (path.hash_part().size() != StorePath::kHashPartLength || path.name().empty() ||
            path.name().size() > StorePath::kMaxNameLength)
            fuzz::violated("a parsed store path has a bad hash part or name");
        if (!dir.try_parse(text)) fuzz::violated("try_parse refused what parse accepted");
    } catch (const Error&) {
        if (dir.try_parse(text)) fuzz::violated("try_parse accepted what parse refused");
    }
    try {
        StorePath path = dir.to_store_path(text);
        if (!dir.is_in_store(text)) fuzz::violated("to_store_path accepted a path not in the store");
        (void)StorePath(path.to_string());
    } catch (const Error&) {
    }
    try {
        StorePath base(text);
        if (base.to_string() != text) fuzz::violated("a base name prints differently");
    } catch (const Error&) {
    }
    return 0;
}
