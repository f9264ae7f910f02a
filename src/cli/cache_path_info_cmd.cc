// `ferry path-info --from URL` (or `--store URL`): what a binary cache says about paths, printed like
// `nix path-info --store URL` of Nix 2.8. The closure (-r, -S) is queried concurrently: each reference
// is asked for as soon as the narinfo naming it arrives.
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "ferry/cache/closure_query.hh"
#include "ferry/cache/open_substituters.hh"
#include "ferry/store/local_store.hh"
#include "path_info.hh"
#include "session.hh"

namespace asio = boost::asio;

namespace ferry::cli {

namespace {

struct ClosureSizes {
    uint64_t nar = 0;
    uint64_t download = 0;
};

ClosureSizes closure_sizes(const ClosureInfos& all, const StorePath& root) {
    ClosureSizes sizes;
    StorePathSet seen{root};
    std::vector<StorePath> todo{root};
    while (!todo.empty()) {
        auto info = all.infos.at(todo.back());
        todo.pop_back();
        sizes.nar += info->nar_size;
        sizes.download += info->file_size;
        for (const auto& r : info->references)
            if (seen.insert(r).second) todo.push_back(r);
    }
    return sizes;
}

/// The row of `info`, with its closure's sizes when `sizes`.
PathInfoRow to_row(const ClosureInfos& all, const NarInfo& info, bool sizes) {
    PathInfoRow row{ValidPathInfo(info.path, info.nar_hash, info.nar_size)};
    row.info.references = info.references;
    row.info.deriver = info.deriver;
    row.info.signatures = info.signatures;
    if (!info.ca.empty()) row.info.ca = info.ca;
    row.download = PathInfoRow::Download{info.url, info.file_hash, info.file_size, 0};
    if (sizes) {
        ClosureSizes closure = closure_sizes(all, info.path);
        row.closure_size = closure.nar;
        row.download->closure_size = closure.download;
    }
    return row;
}

/// Queries the cache on a private event loop and thread pool.
ClosureInfos query(const Settings& settings, const StoreDir& dir, const std::string& url,
                   const StorePathSet& roots, bool recursive) {
    asio::io_context io;
    asio::thread_pool pool(1);
    ClosureInfos result;
    auto task = [&]() -> asio::awaitable<void> {
        auto warn = [](const std::string& text) { ferry::warn("{}", text); };
        auto context = make_binary_cache_context(settings, dir, io.get_executor(), pool, warn);
        BinaryCache cache(url, context);
        co_await cache.init();
        ClosureInfos found = co_await query_closure(cache, roots, recursive);
        result = std::move(found);
    };
    auto done = asio::co_spawn(io, task(), asio::use_future);
    io.run();
    pool.join();
    done.get();
    return result;
}

} // namespace

int run_cache_path_info(const GlobalOptions& global, const std::string& url, const PathInfoOptions& o) {
    Settings settings = load_settings(global);
    StoreDir dir(global.store_dir);
    StorePathSet roots;
    for (const auto& arg : o.paths) {
        try {
            roots.insert(dir.to_store_path(arg));
        } catch (const FormatError& e) {
            throw UsageError("'{}' is not a store path ({})", arg, e.message());
        }
    }
    ClosureInfos all = query(settings, dir, url, roots, o.recursive || o.closure_size);
    if (!all.missing.empty())
        throw InvalidPath("path '{}' is not in binary cache '{}'", dir.print(*all.missing.begin()), url);
    StorePathSet shown = roots;
    if (o.recursive)
        for (const auto& [p, _] : all.infos)
            shown.insert(p);
    std::vector<PathInfoRow> rows;
    for (const auto& p : shown)
        rows.push_back(to_row(all, *all.infos.at(p), o.closure_size));
    print_path_infos(dir, rows, o);
    return 0;
}

} // namespace ferry::cli
