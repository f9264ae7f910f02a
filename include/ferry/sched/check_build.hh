#pragma once
/// `--check`: a derivation is built again and its outputs, still in the builder's scratch space (the
/// rebuild never writes to the store), are compared with the valid paths, as `nix-build --check` does.
/// Blocking (hashing): run it on the thread pool.

#include <map>
#include <string>

#include "ferry/sched/builder.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

class LocalStore;

/// A repeated build gave different outputs: "derivation '…' may not be deterministic: output '…'
/// differs" (with keep-failed: "… differs from '….check'"). output() names the output that differs.
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
/// when the rebuild lacks an output, NotDeterministic for the first one that differs. With
/// `keep_failed`, that output's rebuilt tree is moved beside the valid one as `<path>.check` in the
/// store directory (replacing an older one), as Nix keeps it; the others stay in `rebuilt`.
/// With `repair`, once every output matched, each rebuilt tree replaces the valid path's files
/// (replace_locked_path_contents(): the caller holds the outputs' locks); nothing is replaced when one
/// differs.
void check_rebuild(LocalStore& store, const StorePath& drv_path,
                   const std::map<std::string, StorePath>& outputs, BuiltOutputs& rebuilt,
                   bool keep_failed = false, bool repair = false);

} // namespace ferry
