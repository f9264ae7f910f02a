#pragma once
/// Checking the store against its database (`nix-store --verify`): every valid path's files exist,
/// its references are valid paths, and (with contents checked) its files' NAR serialisation has the
/// recorded NAR hash and size; and putting right contents back in place of damaged ones (repair).
///
/// Threading: blocking; call from any thread. verify_store() holds the gc lock shared while it runs
/// (a collection cannot delete paths under it) and hashes on `threads` threads of its own.

#include <optional>
#include <string>
#include <vector>

#include "ferry/store/leftovers.hh"
#include "ferry/store/local_store.hh"

namespace ferry {

struct VerifyProblem {
    enum class Kind {
        disappeared,        ///< "path '…' disappeared"
        modified,           ///< "path '…' was modified! expected hash '…', got '…'"
        size_mismatch,      ///< the NAR size differs from the database's
        dangling_reference, ///< "path '…' refers to invalid path …"
        unreadable,         ///< its files could not be read
    };
    Kind kind;
    StorePath path;
    /// One line naming the path and what is wrong (Nix's wording where Nix has one).
    std::string message;

    /// Whether fetching the path's contents again can put it right.
    bool repairable() const { return kind != Kind::dangling_reference; }
};

struct VerifyOptions {
    bool check_contents = false;
    /// Threads hashing contents; 0: the number of cores (at most 8).
    unsigned threads = 0;
};

struct VerifyReport {
    std::vector<VerifyProblem> problems;
    /// Files of invalid paths in the store directory and the trash of an interrupted collection
    /// (find_invalid_entries()): garbage, not a broken promise; `--repair` or a collection deletes it.
    std::vector<Leftover> leftovers;
    /// Valid paths looked at.
    size_t paths = 0;
};

/// Checks the whole store. Problems are in path order (references' problems first when the same path
/// has several).
VerifyReport verify_store(LocalStore& store, const VerifyOptions& options);

/// Checks one valid path's files: missing, or (with `check_contents`) different from the recorded NAR
/// hash and size. Throws InvalidPath when it is not valid.
std::optional<VerifyProblem> verify_path(LocalStore& store, const StorePath& path, bool check_contents);

/// Puts `staged` (fresh contents of the valid `path`, e.g. fetched again) in place of the path's files:
/// under the path's lock, canonicalised and hashed (HashMismatch unless they have the recorded NAR hash
/// and size), then swapped with the current files in one rename (renameat2 RENAME_EXCHANGE) or renamed
/// into place when the files are gone. The path stays valid throughout and is never valid with other
/// contents than its hash says. The old files go with `staged`'s staging directory.
void replace_path_contents(LocalStore& store, const StorePath& path, StagedPath& staged);
/// replace_path_contents() when the caller holds the path's lock already (a repairing build).
void replace_locked_path_contents(LocalStore& store, const StorePath& path, StagedPath& staged);

} // namespace ferry
