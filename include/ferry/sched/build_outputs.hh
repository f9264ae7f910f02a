#pragma once
/// After a builder exits successfully: its outputs become valid store paths. Each output is moved into
/// staging, canonicalised, scanned for references and NAR-hashed in one pass, checked against the
/// fixed-output hash, and all outputs are registered in one transaction. Blocking: run it on the pool.

#include <map>
#include <string>

#include "ferry/sched/builder.hh"
#include "ferry/store/path_info.hh"

namespace ferry {

class LocalStore;

/// Registers the outputs of `drv_path` built by `built`. `input_closure` lists the paths the outputs
/// may refer to (besides themselves). The caller holds the locks of the output paths. Throws BuildError
/// naming the derivation for a missing output, OutputHashMismatch (build_failure.hh) for a fixed-output
/// hash mismatch; nothing is registered then.
void register_build_outputs(LocalStore& store, const StorePath& drv_path, const Derivation& drv,
                            const std::map<std::string, StorePath>& outputs, BuiltOutputs& built,
                            const StorePathSet& input_closure);

/// The NAR hash of each output of a repeated build (`--check`), without registering anything.
std::map<std::string, Hash> hash_build_outputs(LocalStore& store, const StorePath& drv_path,
                                               const std::map<std::string, StorePath>& outputs, BuiltOutputs& built);

} // namespace ferry
