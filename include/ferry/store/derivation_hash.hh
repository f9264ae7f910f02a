#pragma once
/// Nix's hashDerivationModulo and the output paths it yields. A derivation's input-addressed output paths
/// depend on the hashes of its input derivations, computed recursively; results are memoised per `.drv`
/// path, so a large graph is hashed once. Not thread-safe: one hasher per thread.

#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "ferry/store/derivation.hh"

namespace ferry {

class DerivationHasher {
public:
    /// Loads an input derivation by its `.drv` path (from the store, a directory, a map…).
    using Loader = std::function<Derivation(const StorePath&)>;

    DerivationHasher(const StoreDir& dir, Loader loader) : dir_(dir), loader_(std::move(loader)) {}

    /// Output name → hash. Fixed-output derivations hash "fixed:out:<method algo>:<base16>:<path>" per
    /// output; others hash their ATerm with input derivations replaced by their own hashes (and, with
    /// `mask_outputs`, output paths blanked).
    std::map<std::string, Hash> hash_modulo(const Derivation& drv, bool mask_outputs);

    /// hash_modulo(drv at `drv_path`, false), memoised.
    const std::map<std::string, Hash>& path_hash(const StorePath& drv_path);

    /// The output paths the derivation must have: fixed-output paths from their hashes, input-addressed
    /// ones from the masked hash. Floating content-addressed outputs are not supported (FormatError).
    std::map<std::string, StorePath> output_paths(const Derivation& drv);

    /// Throws FormatError naming the output when a written output path or its env var differs from
    /// output_paths().
    void check_outputs(const Derivation& drv);

    /// Fills in empty output paths and their env vars (as `nix derivation add` does), then checks all.
    void fill_outputs(Derivation& drv);

private:
    const StoreDir& dir_;
    Loader loader_;
    std::unordered_map<std::string, std::map<std::string, Hash>> cache_;
};

} // namespace ferry
