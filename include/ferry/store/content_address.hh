#pragma once
/// The `ca` field of content-addressed paths, written as Nix writes it in its database and narinfo files.

#include <string>

#include "ferry/store/store_path.hh"
#include "ferry/util/hash.hh"

namespace ferry {

/// "fixed:r:<algo>:<nix32>" (recursive) or "fixed:<algo>:<nix32>" (flat).
std::string fixed_output_ca(FileIngestionMethod method, const Hash& hash);
/// "text:sha256:<nix32>" of the sha256 of the contents.
std::string text_ca(const Hash& hash);

} // namespace ferry
