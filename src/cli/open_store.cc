// Opening the local store for commands, and naming store paths on the command line.
#include <filesystem>

#include "command.hh"
#include "ferry/cache/binary_cache.hh"

namespace fs = std::filesystem;

namespace ferry::cli {

std::unique_ptr<LocalStore> open_local_store(const GlobalOptions& global) {
    if (is_binary_cache_url(global.store_root))
        throw UsageError("--store '{}' names a binary cache: only `path-info` reads one (`copy --from URL` "
                         "copies from it)",
                         global.store_root);
    StoreConfig config;
    config.store_dir = global.store_dir;
    if (!global.store_root.empty()) config.root = fs::absolute(global.store_root);
    return std::make_unique<LocalStore>(std::move(config));
}

StorePath parse_store_path_arg(const LocalStore& store, const std::string& arg) {
    const StoreDir& dir = store.store_dir();
    std::string logical = arg;
    if (!dir.is_in_store(arg)) {
        // A physical path under the root names the same store path as its logical form.
        auto rel = fs::absolute(arg).lexically_normal().lexically_relative(store.config().real_store_dir());
        if (!rel.empty() && *rel.begin() != "." && *rel.begin() != "..")
            logical = dir.dir() + "/" + rel.string();
    }
    try {
        return dir.to_store_path(logical);
    } catch (const FormatError& e) {
        throw UsageError("'{}' is not a store path ({})", arg, e.message());
    }
}

} // namespace ferry::cli
