// `ferry path-info`'s output, for the local store and for binary caches alike, like `nix path-info` of
// Nix 2.8.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "path_info.hh"

namespace ferry::cli {

namespace {

/// The object `nix path-info --json` prints, keys in Nix's order.
nlohmann::ordered_json to_json(const StoreDir& dir, const PathInfoRow& row, bool sizes) {
    const ValidPathInfo& info = row.info;
    nlohmann::ordered_json j;
    j["path"] = dir.print(info.path);
    j["narHash"] = info.nar_hash.to_string(HashFormat::sri);
    j["narSize"] = info.nar_size;
    auto refs = nlohmann::ordered_json::array();
    for (const auto& r : info.references)
        refs.push_back(dir.print(r));
    j["references"] = std::move(refs);
    if (info.ca) j["ca"] = *info.ca;
    if (sizes) j["closureSize"] = row.closure_size;
    if (info.deriver) j["deriver"] = dir.print(*info.deriver);
    if (info.registration_time) j["registrationTime"] = info.registration_time;
    if (info.ultimate) j["ultimate"] = true;
    if (!info.signatures.empty()) j["signatures"] = info.signatures;
    if (const auto& d = row.download) {
        if (!d->url.empty()) j["url"] = d->url;
        if (d->file_hash) j["downloadHash"] = d->file_hash->to_nix32_prefixed();
        if (d->file_size) j["downloadSize"] = d->file_size;
        if (sizes) j["closureDownloadSize"] = d->closure_size;
    }
    return j;
}

void print_plain(const StoreDir& dir, const std::vector<PathInfoRow>& rows, const PathInfoOptions& o) {
    size_t width = 0;
    for (const auto& row : rows)
        width = std::max(width, dir.print(row.info.path).size());
    for (const auto& row : rows) {
        std::string printed = dir.print(row.info.path);
        std::cout << printed;
        if (o.size || o.closure_size || o.sigs) std::cout << std::string(width - printed.size(), ' ');
        if (o.size) std::cout << fmt::format("\t{:11}", row.info.nar_size);
        if (o.closure_size) std::cout << fmt::format("\t{:11}", row.closure_size);
        if (o.sigs) {
            std::cout << "\t";
            for (const auto& s : row.info.signatures)
                std::cout << s << " ";
        }
        std::cout << "\n";
    }
}

} // namespace

void print_path_infos(const StoreDir& dir, const std::vector<PathInfoRow>& rows, const PathInfoOptions& o) {
    if (!o.json) {
        print_plain(dir, rows, o);
        return;
    }
    auto out = nlohmann::ordered_json::array();
    for (const auto& row : rows)
        out.push_back(to_json(dir, row, o.closure_size));
    // Like Nix 2.8: compact, no trailing newline.
    std::cout << out.dump() << std::flush;
}

} // namespace ferry::cli
