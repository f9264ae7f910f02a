#include "ferry/sched/target.hh"

#include "ferry/util/error.hh"

namespace ferry {

Target Target::parse(const StoreDir& dir, std::string_view text) {
    auto caret = text.find('^');
    Target t{dir.parse(text.substr(0, caret)), {}};
    if (caret == std::string_view::npos) return t;
    if (!t.path.is_derivation())
        throw FormatError("'{}' names outputs of a path that is not a derivation", text);
    auto outs = text.substr(caret + 1);
    if (outs == "*") return t;
    size_t pos = 0;
    while (pos <= outs.size()) {
        auto comma = outs.find(',', pos);
        if (comma == std::string_view::npos) comma = outs.size();
        auto name = outs.substr(pos, comma - pos);
        if (name.empty()) throw FormatError("'{}' has an empty output name", text);
        t.outputs.emplace(name);
        pos = comma + 1;
    }
    return t;
}

std::string Target::to_string(const StoreDir& dir) const {
    std::string s = dir.print(path);
    if (!is_build()) return s;
    s += '^';
    if (outputs.empty()) return s + "*";
    bool first = true;
    for (const auto& o : outputs) {
        if (!first) s += ',';
        first = false;
        s += o;
    }
    return s;
}

} // namespace ferry
