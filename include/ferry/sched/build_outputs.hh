#pragma once
/// After a builder exits successfully: its outputs become valid store paths. Each output is moved into
/// staging, canonicalised, scanned for references and NAR-hashed in one pass, checked against the
/// fixed-output hash, and all outputs are registered in one transaction. Blocking: run it on the pool.

#include <map>
#include <string>

#include "ferry/sched/builder.hh"
#include "ferry/sched/store_view.hh"
#include "ferry/store/path_info.hh"

namespace ferry {

class LocalStore;

/// The outputs of `drv_path` built by `built`, moved into staging, canonicalised, hashed and scanned for
/// references among `input_closure` and the outputs: verified trees for make_valid(). Throws BuildError
/// naming the derivation for a missing output, OutputHashMismatch (build_failure.hh) for a fixed-output
/// hash mismatch.
std::vector<StagedTree> stage_build_outputs(LocalStore& store, const StorePath& drv_path,
                                            const Derivation& drv,
                                            const std::map<std::string, StorePath>& outputs,
                                            BuiltOutputs& built, const StorePathSet& input_closure);

/// Makes `trees` valid in one transaction (LocalStore::commit_staged, hashes known), leaving out those
/// whose path is valid already; their trees are deleted with `trees`. The caller holds the paths' locks.
void commit_trees(LocalStore& store, std::vector<StagedTree> trees);

/// stage_build_outputs(), commit_trees() and the derivation's outputs recorded: for callers without a
/// scheduler (benchmarks, the sandbox's tests). Registers the outputs of `drv_path` built by `built`.
/// `input_closure` lists the paths the outputs may refer to (besides themselves). The caller holds the locks
/// of the output paths. Throws BuildError naming the derivation for a missing output, OutputHashMismatch
/// (build_failure.hh) for a fixed-output hash mismatch; nothing is registered then.
void register_build_outputs(LocalStore& store, const StorePath& drv_path, const Derivation& drv,
                            const std::map<std::string, StorePath>& outputs, BuiltOutputs& built,
                            const StorePathSet& input_closure);

/// The NAR hash of each output of a repeated build (`--check`), without registering anything.
std::map<std::string, Hash> hash_build_outputs(LocalStore& store, const StorePath& drv_path,
                                               const std::map<std::string, StorePath>& outputs,
                                               BuiltOutputs& built);

} // namespace ferry
