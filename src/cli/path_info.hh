#pragma once
// `ferry path-info`: its options, shared by the local-store and the binary-cache variants.

#include <string>
#include <vector>

#include "command.hh"

namespace ferry::cli {

struct PathInfoOptions {
    std::vector<std::string> paths;
    bool recursive = false;
    bool json = false;
    bool size = false;
    bool closure_size = false;
    bool sigs = false;
    /// --from URL (or a URL given as --store): read a binary cache instead of the local store.
    std::string from;
    /// --store after the subcommand: a URL means --from, a directory the global --store.
    std::string store;
};

/// path-info of paths in the binary cache at `url`: its narinfos, the closure queried concurrently
/// (d + 1 round trips for depth d).
int run_cache_path_info(const GlobalOptions& global, const std::string& url, const PathInfoOptions& o);

} // namespace ferry::cli
