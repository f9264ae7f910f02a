#pragma once
/// `--check`: a derivation is built again and its outputs, still in the sandbox's scratch space (the
/// sandbox never writes to the store), are compared with the valid paths, as `nix-build --check` does.
/// Blocking (hashing): run it on the thread pool.

#include <map>
#include <string>

#include "ferry/sched/builder.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

class LocalStore;

/// A repeated build gave different outputs: "derivation '…' may not be deterministic: output '…'
/// differs". output() names the first output that differs.
class NotDeterministic : public BuildError {
public:
    NotDeterministic(std::string message, std::string output)
        : BuildError(std::move(message)), output_(std::move(output)) {}
    const std::string& output() const noexcept { return output_; }

private:
    std::string output_;
};

/// Compares the NAR hash of each output in `rebuilt` (canonicalised in place) with the valid path's.
/// Throws InvalidPath when an output is not valid (there is nothing to check against), BuildError
/// when the rebuild lacks an output, NotDeterministic when one differs. `rebuilt` keeps its files, so
/// a caller honouring keep-failed can show where they are.
void check_rebuild(LocalStore& store, const StorePath& drv_path,
                   const std::map<std::string, StorePath>& outputs, BuiltOutputs& rebuilt);

} // namespace ferry
