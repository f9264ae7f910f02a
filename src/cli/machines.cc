#include "machines.hh"

#include "ferry/remote/machine_file.hh"

namespace ferry::cli {

std::vector<MachineSpec> configured_machines(const Settings& settings) {
    return parse_machines(settings.builders, settings.system, "builders");
}

} // namespace ferry::cli
