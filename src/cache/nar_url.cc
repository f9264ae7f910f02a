#include "ferry/cache/nar_url.hh"

#include "ferry/util/error.hh"

namespace ferry {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// `text` with each %XX decoded (curl decodes them in file:// URLs, servers in paths); others kept.
std::string percent_decoded(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        int hi = i + 2 < text.size() && text[i] == '%' ? hex_digit(text[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(text[i + 2]) : -1;
        if (lo >= 0) {
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

/// Whether the relative URL `path` has a ".." segment, in its query or fragment too (curl leaves those
/// alone, but a server or a file:// URL may not).
bool has_parent_segment(std::string_view path) {
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        if (path.substr(pos, end - pos) == "..") return true;
        pos = end + 1;
    }
    return false;
}

} // namespace

std::string resolve_nar_url(std::string_view cache_url, std::string_view nar_url) {
    bool file_cache = cache_url.starts_with("file://");
    bool absolute_http = nar_url.starts_with("http://") || nar_url.starts_with("https://");
    if (absolute_http && !file_cache) return std::string(nar_url);
    std::string decoded = percent_decoded(nar_url);
    if (absolute_http || decoded.find("://") != std::string::npos || decoded.starts_with('/') ||
        has_parent_segment(decoded) || decoded.find('\0') != std::string::npos)
        throw Error("NAR URL '{}' points outside the binary cache", nar_url);
    return std::string(cache_url) + "/" + std::string(nar_url);
}

} // namespace ferry
