#pragma once
/// Importing a `nix-store --export` stream into the local store (like `nix-store --import`), and telling
/// the content address of a path from its contents, since the stream does not carry it.

#include <optional>
#include <string>
#include <vector>

#include "ferry/store/local_store.hh"

namespace ferry {

/// Reads an export stream (export_stream.hh) from `source` to its end, making each path valid as soon as
/// its record is complete: the NAR is unpacked into staging and hashed in the same pass (the hash is
/// ferry's own; the stream has none), the path is locked, its references must be valid already (earlier
/// in the stream, as `nix-store --export` orders them, or before), and it is committed with the content
/// address content_address_of() finds. A path already valid is read and left alone. Returns the paths in
/// stream order. Throws FormatError for a malformed stream, InvalidPath for a missing reference (each
/// naming the path); paths committed before the error stay valid (each is complete and verified), the
/// rest leaves nothing behind. Blocking; one thread.
std::vector<StorePath> import_paths(LocalStore& store, const ByteSource& source);

/// The content address of the path `path` with these references and contents, when its name proves it:
/// "text:sha256:…" when it is the text path of its (single, regular) file's sha256 with its references
/// (.drv files, builtins.toFile), "fixed:sha256:…" when it is the flat fixed-output path of that file,
/// "fixed:r:sha256:…" when it is the recursive sha256 path of its NAR ("source" type, references
/// allowed, builtins.path, fetchers). `file_sha256` is the sha256 of the contents when the NAR's root is a
/// regular file. Paths hashed with other algorithms, and input-addressed ones, give std::nullopt.
std::optional<std::string> content_address_of(const StoreDir& dir, const StorePath& path,
                                              const StorePathSet& references, const Hash& nar_sha256,
                                              const std::optional<Hash>& file_sha256);

} // namespace ferry
