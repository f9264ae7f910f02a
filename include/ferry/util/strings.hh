#pragma once
/// Small string helpers shared by the parsers of settings, narinfo files and derivation attributes.

#include <string_view>
#include <vector>

namespace ferry {

/// The words of `text` separated by runs of space, tab, CR or LF (Nix's tokenizeString); views into it.
std::vector<std::string_view> split_words(std::string_view text);

} // namespace ferry
