// MachineSpec::can_build: Nix's build-hook rules for choosing a machine (systemSupported, allSupported,
// mandatoryMet).

#include "ferry/sched/build_machine.hh"

#include <algorithm>

namespace ferry {

bool MachineSpec::can_build(std::string_view system, const std::set<std::string>& features) const {
    bool system_ok =
        system == "builtin" || std::find(systems.begin(), systems.end(), system) != systems.end();
    if (!system_ok) return false;
    for (const auto& f : features)
        if (!supported_features.count(f) && !mandatory_features.count(f)) return false;
    for (const auto& f : mandatory_features)
        if (!features.count(f)) return false;
    return true;
}

} // namespace ferry
