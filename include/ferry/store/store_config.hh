#pragma once
/// Where a local store keeps its files: the logical store directory (the names paths have) and the
/// physical root under which the files and the state live, like Nix's `local?root=` stores.
///
///   <root><store_dir>/<base name>        the files of a store path
///   <root><store_dir>/.ferry-tmp/        staging area (same filesystem, so a rename moves into place)
///   <root>/nix/var/ferry/db/db.sqlite    the SQLite state
///   <root>/nix/var/ferry/locks/          per-path lock files

#include <filesystem>
#include <string>

namespace ferry {

/// Plain configuration value; copyable, no threading concerns.
struct StoreConfig {
    /// Logical store directory, as printed in store paths.
    std::string store_dir = "/nix/store";
    /// Physical root; empty means default_store_root().
    std::filesystem::path root;
    /// When true, file data is synced (syncfs) before paths are registered and SQLite commits with
    /// synchronous=FULL, so a power loss cannot leave a valid path with unwritten files. Without it the
    /// guarantees cover crashes of the process, not of the machine.
    bool durable = false;

    /// `root`, or default_store_root() when it is empty.
    std::filesystem::path effective_root() const;
    /// <root><store_dir>: where the files of store paths live.
    std::filesystem::path real_store_dir() const;
    /// <root><store_dir>/.ferry-tmp
    std::filesystem::path staging_dir() const;
    /// <root>/nix/var/ferry
    std::filesystem::path state_dir() const;
    /// <root>/nix/var/ferry/db/db.sqlite
    std::filesystem::path db_file() const { return state_dir() / "db" / "db.sqlite"; }
    /// <root>/nix/var/ferry/locks
    std::filesystem::path locks_dir() const { return state_dir() / "locks"; }
};

/// Name of the staging directory inside the physical store directory.
inline constexpr const char* kStagingDirName = ".ferry-tmp";

/// $XDG_DATA_HOME/ferry/root, or ~/.local/share/ferry/root ($HOME). Throws Error when neither
/// XDG_DATA_HOME nor HOME is set.
std::filesystem::path default_store_root();

} // namespace ferry
