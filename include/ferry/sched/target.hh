#pragma once
/// What the user asks to realise: a store path (made valid, by substitution), or outputs of a
/// derivation ("/nix/store/…-x.drv^out,dev"; "^*" or no outputs: all of them).

#include <set>
#include <string>
#include <string_view>

#include "ferry/store/store_path.hh"

namespace ferry {

struct Target {
    StorePath path;
    /// For a derivation: the outputs wanted; empty means all. Ignored for other paths.
    std::set<std::string> outputs;
    /// Whether `path` is a derivation whose outputs are wanted (else the path itself is wanted).
    bool is_build() const { return path.is_derivation(); }

    /// Parses "<store path>" or "<drv path>^out1,out2" / "^*". Throws FormatError.
    static Target parse(const StoreDir& dir, std::string_view text);
    std::string to_string(const StoreDir& dir) const;
    friend auto operator<=>(const Target&, const Target&) = default;
};

} // namespace ferry
