#pragma once
/// Derivations in the local store: reading a `.drv` path, adding derivations (as `nix derivation add`
/// does: output paths filled in and checked, the `.drv` written as a text path), and reading derivation
/// files in either ATerm or JSON form. Blocking (file and SQLite I/O).

#include <filesystem>
#include <vector>

#include "ferry/store/derivation.hh"
#include "ferry/store/derivation_hash.hh"

namespace ferry {

class LocalStore;

/// Parses the valid `.drv` at `drv`. Throws InvalidPath when it is not valid, FormatError when malformed.
Derivation read_derivation(LocalStore& store, const StorePath& drv);

/// A DerivationHasher whose loader reads input derivations from `store`.
DerivationHasher store_derivation_hasher(LocalStore& store);

/// Parses a derivation file: ATerm ("Derive(…") or JSON (one derivation object, or `nix show-derivation`
/// output with exactly one "<drv path>": {…} entry). The name comes from the `.drv` path when there is
/// one, else env "name". `where` names the file in errors.
Derivation parse_derivation_file(const StoreDir& dir, std::string_view text, std::string_view where);

/// Fills in and checks the output paths, then writes the `.drv` into the store (its inputs must be
/// valid). Returns the `.drv` path.
StorePath add_derivation(LocalStore& store, Derivation drv);
/// As above with a caller's hasher, so the hashes of shared inputs are computed once across many adds.
StorePath add_derivation(LocalStore& store, Derivation drv, DerivationHasher& hasher);

/// Adds several derivations, each after the ones among them it depends on. Returns their paths in the
/// order given.
std::vector<StorePath> add_derivations(LocalStore& store, std::vector<Derivation> drvs);

} // namespace ferry
