#pragma once
// What `ferry build` is asked to build: its arguments (store paths, derivation files, Nix expressions),
// -E expressions, targets read one per line (--stdin) or from nix-eval-jobs' JSON lines
// (--from-eval-jobs), turned into targets whose derivations are valid in ferry's store.

#include <functional>
#include <string>
#include <vector>

#include "ferry/sched/target.hh"
#include "ferry/store/local_store.hh"
#include "nix_eval.hh"

namespace ferry::cli {

struct BuildTargetArgs {
    /// The positional arguments.
    std::vector<std::string> args;
    /// -E EXPR.
    std::vector<std::string> exprs;
    /// -A, --arg, --argstr, -I, --eval-option.
    NixEvalArgs eval;
    /// --stdin: targets one per line.
    bool from_stdin = false;
    /// --from-eval-jobs FILE ("-": standard input).
    std::string eval_jobs;
    /// --eval-store URI: the Nix store that .drv targets missing from ferry's store are read from.
    std::string eval_store;
    bool eval_store_set = false;
};

/// The targets, in the order asked: arguments (each Nix expression giving its derivations in place),
/// -E expressions, --stdin lines, --from-eval-jobs lines.
struct BuildTargets {
    std::vector<Target> targets;
    /// --from-eval-jobs lines with an `error` (each reported on standard error, then skipped).
    size_t eval_errors = 0;
};

/// Store paths and derivation files of the arguments, as `ferry build` has always read them.
using PlainResolver = std::function<std::vector<Target>(const std::vector<std::string>&)>;

/// Whether an argument names a store path (or a file in one): logically ("/nix/store/…") or by its
/// physical location under the store's root.
bool names_store_path(const LocalStore& store, const std::string& arg);

/// Whether an argument is a Nix expression to evaluate: a `.nix` file, a directory, another file that
/// is not a derivation (`.drv`, `.json`), a <lookup path> or a URL. Store paths (logical, or physical
/// under the store's root) never are.
bool is_nix_source(const LocalStore& store, const std::string& arg);

/// Reads, evaluates and imports everything `a` names (see nix_eval.hh): Nix expressions are evaluated
/// in a temporary Nix store and their closures imported; a .drv target that ferry's store lacks is
/// imported from --eval-store, or from Nix's default store when its file is there. With no argument,
/// -E, --stdin or --from-eval-jobs, the expression is ./default.nix (as nix-build). Throws UsageError
/// for -A/--arg/--argstr without an expression, FormatError naming the line of a bad input line, Error
/// when evaluation fails.
BuildTargets resolve_build_targets(LocalStore& store, const BuildTargetArgs& a,
                                   const PlainResolver& resolve_plain);

} // namespace ferry::cli
