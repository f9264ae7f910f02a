#include "ferry/util/strings.hh"

namespace ferry {

std::vector<std::string_view> split_words(std::string_view text) {
    constexpr std::string_view kBlanks = " \t\r\n";
    std::vector<std::string_view> out;
    size_t pos = 0;
    while (pos < text.size()) {
        auto start = text.find_first_not_of(kBlanks, pos);
        if (start == std::string_view::npos) break;
        auto end = text.find_first_of(kBlanks, start);
        if (end == std::string_view::npos) end = text.size();
        out.push_back(text.substr(start, end - start));
        pos = end;
    }
    return out;
}

} // namespace ferry
