#pragma once
/// Store test helpers: throwaway stores in temporary directories, the Nix 2.8 path-info fixtures, and
/// the busybox tree of compat.nix.

#include <filesystem>
#include <memory>
#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"

namespace ferry {
/// gtest prints store paths by name.
inline void PrintTo(const StorePath& path, std::ostream* os) {
    *os << path.to_string();
}
} // namespace ferry

namespace ferry::test {

/// A LocalStore rooted in a fresh temporary directory, deleted with everything in it at the end.
struct TempStore {
    TempDir dir;
    StoreConfig config;
    std::unique_ptr<LocalStore> store;

    TempStore();
    /// Opens another LocalStore on the same root (as a second process would).
    std::unique_ptr<LocalStore> open_again() const { return std::make_unique<LocalStore>(config); }
    LocalStore* operator->() const { return store.get(); }
    /// Names in the staging area other than its lock file.
    std::vector<std::string> staging_leftovers() const;
    /// Names in the physical store directory other than the staging area.
    std::vector<std::string> store_entries() const;
};

/// compat/path-info.json, in file order.
nlohmann::json compat_path_infos();
/// The same entries ordered so that references come before their referrers.
std::vector<nlohmann::json> in_reference_order(const nlohmann::json& infos);
/// The ValidPathInfo an entry of path-info.json describes.
ValidPathInfo to_path_info(const StoreDir& dir, const nlohmann::json& entry);
/// compat/nar/<hash part>.nar of an entry.
std::filesystem::path compat_nar(const nlohmann::json& entry);

/// The fixture's NAR of /nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static.
std::filesystem::path busybox_nar();
/// Creates `<parent>/bb`, the tree compat.nix adds as busybox-static (bin/busybox, bin/sh -> busybox),
/// restored from the fixture's NAR, so the host's busybox never matters; returns its path.
std::filesystem::path make_busybox_tree(const std::filesystem::path& parent);

} // namespace ferry::test
