#pragma once
/// Store derivations: the `.drv` ATerm format, parsed and printed byte for byte as Nix does, and the facts
/// read off them (output kinds, the `.drv`'s own store path). Pure: no I/O.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/store/store_path.hh"
#include "ferry/util/hash.hh"

namespace ferry {

/// The expected content hash of a fixed-output (or content-addressed) output.
struct OutputHash {
    FileIngestionMethod method = FileIngestionMethod::flat;
    bool text = false; ///< "text:<algo>" (content-addressed text); not fixed-output.
    Hash hash;
    /// "r:sha256", "sha256", "text:sha256": the ATerm hashAlgo field.
    std::string method_algo() const;
};

/// One output as written in the ATerm: ("name","path","hashAlgo","hash"). The raw fields are kept so the
/// derivation prints back byte for byte.
struct DerivationOutput {
    std::string path; ///< full store path, or "" (masked, deferred or floating)
    std::string hash_algo;
    std::string hash;

    /// The fixed hash when both hash_algo and hash are set; throws FormatError when they don't parse.
    std::optional<OutputHash> fixed_hash() const;
    friend bool operator==(const DerivationOutput&, const DerivationOutput&) = default;
};

struct Derivation {
    /// The derivation's name: the `.drv` file's name without ".drv", else env "name".
    std::string name;
    std::map<std::string, DerivationOutput> outputs;
    /// Input derivation paths → the outputs wanted from each.
    std::map<StorePath, std::set<std::string>> input_drvs;
    StorePathSet input_srcs;
    std::string platform;
    std::string builder;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;

    /// Whether every output is fixed-output (has a hash and is not "text:").
    bool is_fixed_output() const;
    /// The output's store path as written (throws FormatError when empty).
    StorePath output_path(const StoreDir& dir, const std::string& output) const;
    /// References of the `.drv` file: input sources and input derivations.
    StorePathSet references() const;

    friend bool operator==(const Derivation&, const Derivation&) = default;
};

/// Parses ATerm text. `name` is the derivation's name (from the `.drv` path); empty means env "name".
/// Throws FormatError naming the reason and the byte offset.
Derivation parse_derivation(const StoreDir& dir, std::string_view text, std::string name = "");

/// Options of printing: Nix's `unparse`. With `mask_outputs`, output paths and the env vars named after
/// outputs print as "". `actual_inputs` replaces the input derivations (keyed by any string, used by
/// hashDerivationModulo with base16 hashes).
struct UnparseOptions {
    bool mask_outputs = false;
    const std::map<std::string, std::set<std::string>>* actual_inputs = nullptr;
};
std::string unparse_derivation(const StoreDir& dir, const Derivation& drv,
                               const UnparseOptions& options = {});

/// The `.drv` file's store path: a text path named "<name>.drv" with the derivation's references.
StorePath derivation_store_path(const StoreDir& dir, const Derivation& drv);

/// Appends `s` as an ATerm string literal ("…" with \" \\ \n \r \t escaped).
void print_aterm_string(std::string& out, std::string_view s);

} // namespace ferry
