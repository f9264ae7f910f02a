#pragma once
/// The unsandboxed builder's view of the host when the logical store directory does not exist on it
/// (a `--store DIR` root on a machine without /nix): in a private mount namespace, the deepest existing
/// parent of the store dir is replaced by a directory of mount points (in scratch space) that binds
/// each of its entries back, plus the missing directories down to the store dir, where the physical
/// store is bound. The builder then sees the host's whole file system and the store at its logical
/// path, and nothing is created on the host outside the scratch space. Planning is pure.

#include <string>
#include <vector>

#include "ferry/sandbox/mount_plan.hh"

namespace ferry {

/// One entry of the existing parent directory.
struct HostDirEntry {
    enum class Kind : uint8_t { directory, file, symlink };
    std::string name;
    Kind kind = Kind::directory;
    std::string symlink_target;
};

struct HostViewSpec {
    std::string view;   ///< empty directory in scratch space that stands in for `parent`
    std::string parent; ///< deepest existing parent of store_dir on the host ("/" for /nix/store)
    std::vector<HostDirEntry> parent_entries;
    std::string store_dir;      ///< logical store dir, under parent
    std::string real_store_dir; ///< what it shows
};

/// The entries to create under `view` and the mounts: make "/" private, bind every entry of the parent
/// into the view, bind the store, then pivot into the view (parent "/") or bind it over the parent.
/// Throws SandboxError when store_dir is not a clean path under parent.
SandboxPlan plan_host_view(const HostViewSpec& spec);

/// The deepest existing directory of `path`'s parents (`path` itself excluded), and its entries.
HostViewSpec probe_host_view(const std::string& store_dir);

} // namespace ferry
