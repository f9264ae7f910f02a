// `ferry derivation show|add`.
//
// Placeholder: the derivation commands land with the derivation module on another branch, which
// replaces this file. Until then `ferry derivation` registers nothing.
#include "command.hh"

namespace ferry::cli {

void register_derivation_commands(CLI::App& /*app*/, Context& /*ctx*/) {}

} // namespace ferry::cli
