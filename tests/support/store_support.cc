#include "support/store_support.hh"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "ferry/store/nar_restore.hh"
#include "support/fixtures.hh"

namespace fs = std::filesystem;

namespace ferry::test {

TempStore::TempStore() {
    config.root = dir.path() / "root";
    store = std::make_unique<LocalStore>(config);
}

std::vector<std::string> TempStore::staging_leftovers() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(config.staging_dir()))
        if (!is_staging_lock(e.path().filename().string())) out.push_back(e.path().filename().string());
    return out;
}

std::vector<std::string> TempStore::store_entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(config.real_store_dir()))
        if (e.path().filename() != kStagingDirName) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

nlohmann::json compat_path_infos() {
    return nlohmann::json::parse(read_file(compat_dir() / "path-info.json"));
}

std::vector<nlohmann::json> in_reference_order(const nlohmann::json& infos) {
    std::vector<nlohmann::json> order;
    std::set<std::string> placed;
    while (order.size() < infos.size()) {
        size_t before = order.size();
        for (const auto& e : infos) {
            std::string path = e["path"];
            if (placed.contains(path)) continue;
            bool ready = std::all_of(e["references"].begin(), e["references"].end(), [&](const auto& r) {
                return r == path || placed.contains(r.template get<std::string>());
            });
            if (!ready) continue;
            order.push_back(e);
            placed.insert(path);
        }
        if (order.size() == before) throw std::runtime_error("path-info.json has a reference cycle");
    }
    return order;
}

ValidPathInfo to_path_info(const StoreDir& dir, const nlohmann::json& e) {
    ValidPathInfo info(dir.parse(e["path"].get<std::string>()), Hash::parse(e["narHash"].get<std::string>()),
                       e["narSize"].get<uint64_t>());
    for (const auto& r : e["references"])
        info.references.insert(dir.parse(r.get<std::string>()));
    if (e.contains("deriver")) info.deriver = dir.parse(e["deriver"].get<std::string>());
    if (e.contains("ca")) info.ca = e["ca"].get<std::string>();
    if (e.contains("signatures"))
        for (const auto& s : e["signatures"])
            info.signatures.insert(s.get<std::string>());
    info.ultimate = e.value("ultimate", false);
    info.registration_time = e.value("registrationTime", int64_t(0));
    return info;
}

fs::path compat_nar(const nlohmann::json& e) {
    std::string path = e["path"];
    StorePath sp = StoreDir().parse(path);
    return compat_dir() / "nar" / (std::string(sp.hash_part()) + ".nar");
}

fs::path busybox_nar() {
    return compat_dir() / "nar" / "jsm9cyjvamk013ndqlj8ckgaqp3yrw28.nar";
}

fs::path make_busybox_tree(const fs::path& parent) {
    fs::path bb = parent / "bb";
    restore_nar(read_file(busybox_nar()), bb);
    return bb;
}

} // namespace ferry::test
