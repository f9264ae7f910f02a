#pragma once
/// Store paths: `<store dir>/<32 nix32 chars>-<name>`. A StorePath holds the base name only; a StoreDir
/// prints and parses full paths and computes the paths of content (Nix's makeStorePath and friends).

#include <compare>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "ferry/util/hash.hh"

namespace ferry {

/// The base name of a store path, "<hash part>-<name>", validated on construction.
///
/// The text is interned: every StorePath with the same base name shares one immortal string, so a copy
/// is a pointer copy, equality is a pointer comparison, and the references of a 100,000-path closure
/// cost one string per path, not one per reference. Thread-safe (the intern table is locked).
class StorePath {
public:
    static constexpr size_t kHashPartLength = 32;
    static constexpr size_t kMaxNameLength = 211;

    /// Throws FormatError when `base_name` is not "<32 nix32 chars>-<valid name>".
    explicit StorePath(std::string_view base_name);
    /// From the 20-byte digest and a name (validated).
    StorePath(std::span<const uint8_t> digest20, std::string_view name);

    std::string_view hash_part() const { return std::string_view(*base_).substr(0, kHashPartLength); }
    std::string_view name() const { return std::string_view(*base_).substr(kHashPartLength + 1); }
    /// The base name; the reference stays valid for the life of the process.
    const std::string& to_string() const { return *base_; }
    /// Whether the name ends in ".drv".
    bool is_derivation() const;

    friend bool operator==(const StorePath& a, const StorePath& b) { return a.base_ == b.base_; }
    friend std::strong_ordering operator<=>(const StorePath& a, const StorePath& b) {
        return a.base_ == b.base_ ? std::strong_ordering::equal : *a.base_ <=> *b.base_;
    }

private:
    const std::string* base_;
};

using StorePathSet = std::set<StorePath>;

/// Throws FormatError when `name` breaks Nix's rules: 1 to 211 characters of [A-Za-z0-9+-._?=].
void check_store_path_name(std::string_view name);

/// How a fixed-output or added path's content is hashed: the file's bytes or the NAR of the tree.
enum class FileIngestionMethod : uint8_t { flat, recursive };

/// A logical store directory such as "/nix/store".
class StoreDir {
public:
    explicit StoreDir(std::string dir = "/nix/store");
    const std::string& dir() const { return dir_; }

    /// "<dir>/<base name>".
    std::string print(const StorePath& path) const { return dir_ + "/" + path.to_string(); }
    /// Parses a full path directly inside this store dir. Throws FormatError naming it.
    StorePath parse(std::string_view full_path) const;
    std::optional<StorePath> try_parse(std::string_view full_path) const;
    /// Accepts a full path in the store or under one (e.g. "/nix/store/…-x/bin/sh") and returns the store
    /// path; throws FormatError otherwise.
    StorePath to_store_path(std::string_view path) const;
    bool is_in_store(std::string_view path) const;

    /// Nix's makeStorePath: sha256 of "<type>:sha256:<base16 hash>:<dir>:<name>", folded to 20 bytes.
    StorePath make_store_path(std::string_view type, const Hash& hash, std::string_view name) const;
    /// "text[:ref…]" / "source[:ref…][:self]": the type prefix of content-addressed paths.
    std::string make_type(std::string_view kind, const StorePathSet& references, bool self_reference) const;
    /// An input-addressed output: type "output:<id>", name "<name>" or "<name>-<id>".
    StorePath make_output_path(std::string_view output_name, const Hash& hash,
                               std::string_view drv_name) const;
    /// A fixed-output path. Recursive sha256 uses type "source" (references allowed); anything else goes
    /// through "fixed:out:[r:]<algo>:<base16>:" and may have no references.
    StorePath make_fixed_output_path(FileIngestionMethod method, const Hash& hash, std::string_view name,
                                     const StorePathSet& references = {}, bool self_reference = false) const;
    /// A text path (`.drv` files, builtins.toFile): "text" type with references, sha256 of the contents.
    StorePath make_text_path(std::string_view name, std::string_view contents,
                             const StorePathSet& references) const;

private:
    std::string dir_;
};

/// "out" gives `drv_name`, anything else "<drv_name>-<output>".
std::string output_path_name(std::string_view drv_name, std::string_view output_name);

} // namespace ferry
