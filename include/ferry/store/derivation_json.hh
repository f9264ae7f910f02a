#pragma once
/// Derivations as JSON, in the shape `nix show-derivation` (Nix 2.8) prints: outputs, inputSrcs,
/// inputDrvs, system, builder, args, env.

#include <nlohmann/json.hpp>

#include "ferry/store/derivation.hh"

namespace ferry {

/// The object for one derivation (without the outer "<drv path>": key). Keys in Nix's order.
nlohmann::ordered_json derivation_to_json(const StoreDir& dir, const Derivation& drv);

/// Reads that object back. Output paths may be missing or empty (to be filled in). `name` as in
/// parse_derivation. Throws FormatError naming the field.
Derivation derivation_from_json(const StoreDir& dir, const nlohmann::json& json, std::string name = "");

} // namespace ferry
