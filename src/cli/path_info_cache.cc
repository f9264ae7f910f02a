// `ferry path-info --from URL` (or `--store URL`): what a binary cache says about paths, printed like
// `nix path-info --store URL` of Nix 2.8. The closure (-r, -S) is queried concurrently: each reference
// is asked for as soon as the narinfo naming it arrives.
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

/// The object `nix path-info --json --store URL` prints, keys in Nix's order.
nlohmann::ordered_json to_json(const StoreDir& dir, const ClosureInfos& all, const NarInfo& info,
                               bool sizes) {
    nlohmann::ordered_json j;
    j["path"] = dir.print(info.path);
    j["narHash"] = info.nar_hash.to_string(HashFormat::sri);
    j["narSize"] = info.nar_size;
    auto refs = nlohmann::ordered_json::array();
    for (const auto& r : info.references)
        refs.push_back(dir.print(r));
    j["references"] = std::move(refs);
    if (!info.ca.empty()) j["ca"] = info.ca;
    ClosureSizes closure = sizes ? closure_sizes(all, info.path) : ClosureSizes{};
    if (sizes) j["closureSize"] = closure.nar;
    if (info.deriver) j["deriver"] = dir.print(*info.deriver);
    if (!info.signatures.empty()) j["signatures"] = info.signatures;
    if (!info.url.empty()) j["url"] = info.url;
    if (info.file_hash) j["downloadHash"] = info.file_hash->to_nix32_prefixed();
    if (info.file_size) j["downloadSize"] = info.file_size;
    if (sizes) j["closureDownloadSize"] = closure.download;
    return j;
}

void print_plain(const StoreDir& dir, const ClosureInfos& all, const StorePathSet& shown,
                 const PathInfoOptions& o) {
    size_t width = 0;
    for (const auto& p : shown)
        width = std::max(width, dir.print(p).size());
    for (const auto& p : shown) {
        const NarInfo& info = *all.infos.at(p);
        std::string printed = dir.print(p);
        std::cout << printed;
        if (o.size || o.closure_size || o.sigs) std::cout << std::string(width - printed.size(), ' ');
        if (o.size) std::cout << fmt::format("\t{:11}", info.nar_size);
        if (o.closure_size) std::cout << fmt::format("\t{:11}", closure_sizes(all, p).nar);
        if (o.sigs) {
            std::cout << "\t";
            for (const auto& s : info.signatures)
                std::cout << s << " ";
        }
        std::cout << "\n";
    }
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
    if (!o.json) {
        print_plain(dir, all, shown, o);
        return 0;
    }
    auto out = nlohmann::ordered_json::array();
    for (const auto& p : shown)
        out.push_back(to_json(dir, all, *all.infos.at(p), o.closure_size));
    std::cout << out.dump() << std::flush;
    return 0;
}

} // namespace ferry::cli
