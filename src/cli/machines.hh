#pragma once
// The remote machines of the `builders` setting, as the command line hands them to the worker.

#include <memory>
#include <vector>

#include "ferry/sched/build_machine.hh"
#include "ferry/util/settings.hh"

namespace ferry::cli {

/// The machines of `settings.builders` (Nix's syntax; `@FILE` read, a missing file holding none).
/// Throws the parser's errors (remote/machine_file.hh).
std::vector<MachineSpec> configured_machines(const Settings& settings);

} // namespace ferry::cli
