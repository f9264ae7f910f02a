#pragma once
// Starting from Nix expressions, as nix-build does: the evaluation is Nix's own (Debian's
// nix-instantiate) into a temporary Nix store (`local?root=<temp dir>`), never the host's /nix/store;
// the .drv files and their sources then come into ferry's store with the same paths, read from
// `nix-store --export` (import_paths verifies and registers them).

#include <string>
#include <utility>
#include <vector>

#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"

namespace ferry::cli {

/// How nix-build's arguments ask for evaluation.
struct NixEvalArgs {
    /// -A ATTR, applied to every expression in order.
    std::vector<std::string> attrs;
    /// --arg NAME EXPR and --argstr NAME STRING.
    std::vector<std::pair<std::string, std::string>> args, argstrs;
    /// -I PATH (search path entries).
    std::vector<std::string> include_paths;
    /// Nix options (--eval-option NAME VALUE), passed to Nix's programs as --option.
    std::vector<std::pair<std::string, std::string>> options;
    /// The `system` Nix evaluates for (builtins.currentSystem): ferry's `system` setting.
    std::string system;
};

/// A derivation output that an expression evaluated to ("drv!dev" in nix-instantiate's words).
struct InstantiatedOutput {
    StorePath drv;
    std::string output;
};

/// The environment of Nix's programs: the user's own, except that without a nix.conf of the user's
/// (NIX_CONF_DIR unset and no /etc/nix/nix.conf) NIX_CONF_DIR names a temporary one that only empties
/// build-users-group (so root without a nixbld group gets no warning). Owns a temporary directory
/// (deleted with its contents on destruction) that also holds the evaluation store. One thread.
class NixEnvironment {
public:
    NixEnvironment();
    /// Variables to set in Nix's programs.
    const std::vector<std::pair<std::string, std::string>>& env() const { return env_; }
    /// The temporary directory.
    const std::filesystem::path& dir() const { return tmp_.path(); }

private:
    TempDir tmp_;
    std::vector<std::pair<std::string, std::string>> env_;
};

/// Evaluates expressions with nix-instantiate into a temporary Nix store of `nix`'s directory.
class NixEvaluator {
public:
    /// `store_dir`: the logical store directory the paths must have (ferry's).
    NixEvaluator(const NixEnvironment& nix, const StoreDir& store_dir, NixEvalArgs args);

    /// Evaluates the file (or directory, <lookup path>, URL) `source`, or the expression text when
    /// `is_expr`, and returns its derivations in nix-instantiate's order, each with the output its
    /// `outputName` names. Nix's errors reach the user's standard error; then throws Error naming
    /// `source` (exit code 1 in the command line).
    std::vector<InstantiatedOutput> instantiate(const std::string& source, bool is_expr);
    /// The evaluation store, as a Nix store URI.
    const std::string& store_uri() const { return store_uri_; }

private:
    std::vector<std::string> common_args() const;

    const NixEnvironment& nix_;
    const StoreDir& store_dir_;
    NixEvalArgs args_;
    std::string store_uri_;
    unsigned calls_ = 0;
};

/// Brings the closures of `paths` (valid in the Nix store `store_uri`; "" for Nix's default store) into
/// `store`: `nix-store -qR` lists them, references first, those `store` lacks are exported by
/// `nix-store --export` (in batches, however many there are) and imported. Returns how many paths were
/// imported. Throws Error when a Nix program fails (its standard error has said why).
size_t import_from_nix_store(LocalStore& store, const NixEnvironment& nix, const std::string& store_uri,
                             const std::vector<StorePath>& paths);

} // namespace ferry::cli
