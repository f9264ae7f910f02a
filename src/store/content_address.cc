#include "ferry/store/content_address.hh"

namespace ferry {

std::string fixed_output_ca(FileIngestionMethod method, const Hash& hash) {
    return std::string("fixed:") + (method == FileIngestionMethod::recursive ? "r:" : "") +
           hash.to_nix32_prefixed();
}

std::string text_ca(const Hash& hash) {
    return "text:" + hash.to_nix32_prefixed();
}

} // namespace ferry
