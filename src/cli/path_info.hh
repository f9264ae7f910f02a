#pragma once
// `ferry path-info`: its options and its printer, shared by the local-store and the binary-cache variants.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "command.hh"
#include "ferry/store/path_info.hh"
#include "ferry/util/hash.hh"

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

/// What `path-info` shows of one path: the store-level info, and what a binary cache's narinfo adds.
struct PathInfoRow {
    ValidPathInfo info;
    /// The sum of the NAR sizes of the path's closure; shown with -S (closure_size).
    uint64_t closure_size = 0;
    /// Where a binary cache keeps the path's (compressed) NAR; absent for the local store.
    struct Download {
        std::string url;
        std::optional<Hash> file_hash;
        uint64_t file_size = 0;
        /// The sum of the file sizes of the closure; shown with -S.
        uint64_t closure_size = 0;
    };
    std::optional<Download> download;
};

/// Prints `rows` (in their order) to stdout like `nix path-info` of Nix 2.8: one line per path, aligned,
/// with the columns -s, -S and --sigs ask for; or, with --json, one compact JSON array without a
/// trailing newline, keys in Nix's order.
void print_path_infos(const StoreDir& dir, const std::vector<PathInfoRow>& rows, const PathInfoOptions& o);

/// path-info of paths in the binary cache at `url`: its narinfos, the closure queried concurrently
/// (d + 1 round trips for depth d).
int run_cache_path_info(const GlobalOptions& global, const std::string& url, const PathInfoOptions& o);

} // namespace ferry::cli
