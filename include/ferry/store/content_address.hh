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

/// A `ca` field read back (Nix's ContentAddress): text (the sha256 of a file's contents) or fixed (flat:
/// the hash of a file's contents; recursive: the hash of the path's NAR).
struct ContentAddress {
    bool text = false;
    FileIngestionMethod method = FileIngestionMethod::flat;
    Hash hash;
};
/// Parses "text:sha256:<hash>" or "fixed:[r:]<algo>:<hash>" as Nix 2.8's parseContentAddress; throws
/// FormatError with its messages (naming the text) for anything else.
ContentAddress parse_content_address(std::string_view ca);

} // namespace ferry
