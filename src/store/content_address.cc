#include "ferry/store/content_address.hh"

#include "ferry/util/error.hh"

namespace ferry {

std::string fixed_output_ca(FileIngestionMethod method, const Hash& hash) {
    return std::string("fixed:") + (method == FileIngestionMethod::recursive ? "r:" : "") +
           hash.to_nix32_prefixed();
}

std::string text_ca(const Hash& hash) {
    return "text:" + hash.to_nix32_prefixed();
}

ContentAddress parse_content_address(std::string_view ca) {
    auto colon = ca.find(':');
    if (colon == std::string_view::npos)
        throw FormatError("not a content address because it is not in the form '<prefix>:<rest>': {}", ca);
    auto prefix = ca.substr(0, colon), rest = ca.substr(colon + 1);
    ContentAddress out;
    if (prefix == "text") {
        out.text = true;
    } else if (prefix == "fixed") {
        if (rest.starts_with("r:")) {
            out.method = FileIngestionMethod::recursive;
            rest.remove_prefix(2);
        }
    } else {
        throw FormatError("content address prefix '{}' is unrecognized. Recogonized prefixes are 'text' or "
                          "'fixed'",
                          prefix);
    }
    auto algo_end = rest.find(':');
    if (algo_end == std::string_view::npos)
        throw FormatError("content address hash must be in form '<algo>:<hash>', but found: {}", ca);
    auto algo = try_parse_hash_algo(rest.substr(0, algo_end));
    if (!algo) throw FormatError("unknown hash algorithm '{}'", rest.substr(0, algo_end));
    if (out.text && *algo != HashAlgo::sha256)
        throw FormatError("text content address hash should use sha256, but instead uses {}",
                          to_string(*algo));
    out.hash = Hash::parse_bare(rest.substr(algo_end + 1), *algo);
    return out;
}

} // namespace ferry
