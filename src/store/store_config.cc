#include "ferry/store/store_config.hh"

#include <cstdlib>

#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

fs::path default_store_root() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg && *xdg == '/') return fs::path(xdg) / "ferry" / "root";
    const char* home = std::getenv("HOME");
    if (home && *home) return fs::path(home) / ".local" / "share" / "ferry" / "root";
    throw Error("cannot find a default store root: neither XDG_DATA_HOME nor HOME is set (use --store DIR)");
}

fs::path StoreConfig::effective_root() const {
    return root.empty() ? default_store_root() : root;
}

fs::path StoreConfig::real_store_dir() const {
    return effective_root() / fs::path(store_dir).relative_path();
}

fs::path StoreConfig::staging_dir() const {
    return real_store_dir() / kStagingDirName;
}

fs::path StoreConfig::state_dir() const {
    return effective_root() / "nix" / "var" / "ferry";
}

} // namespace ferry
