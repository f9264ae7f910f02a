#include "support/store_check.hh"

#include <filesystem>
#include <set>

#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/store/sqlite.hh"
#include "ferry/store/staged_path.hh"

namespace fs = std::filesystem;

namespace ferry::test {

namespace {

std::vector<StorePath> all_valid_paths(const StoreConfig& config) {
    Database db(config.db_file(), false);
    Statement select(db, "select path from ValidPaths");
    std::vector<StorePath> paths;
    StoreDir dir(config.store_dir);
    for (auto q = select.use(); q.next();)
        paths.push_back(dir.parse(q.get_text(0)));
    return paths;
}

void check_path(LocalStore& store, const StorePath& path, std::vector<std::string>& problems) {
    auto info = store.query_path_info(path);
    auto name = store.print(path);
    if (!info) return problems.push_back(name + ": listed, but has no path info");
    auto real = store.real_path(path);
    if (!fs::exists(fs::symlink_status(real)))
        return problems.push_back(name + ": valid, but its files are missing");
    NarHashResult got = hash_path(info->nar_hash.algo, real);
    if (got.hash != info->nar_hash)
        problems.push_back(name + ": NAR hash " + got.hash.to_nix32_prefixed() + ", the database says " +
                           info->nar_hash.to_nix32_prefixed());
    if (got.nar_size != info->nar_size)
        problems.push_back(name + ": NAR size " + std::to_string(got.nar_size) + ", the database says " +
                           std::to_string(info->nar_size));
    for (const auto& r : info->references)
        if (!store.is_valid_path(r))
            problems.push_back(name + ": refers to '" + store.print(r) + "', not valid");
}

} // namespace

std::vector<std::string> store_problems(const StoreConfig& config) {
    std::vector<std::string> problems;
    if (!fs::exists(config.db_file())) return problems;
    LocalStore store(config);
    std::set<std::string> valid;
    for (const auto& path : all_valid_paths(config)) {
        valid.insert(path.to_string());
        check_path(store, path, problems);
    }
    if (fs::exists(config.real_store_dir()))
        for (const auto& e : fs::directory_iterator(config.real_store_dir())) {
            auto name = e.path().filename().string();
            if (name != kStagingDirName && !valid.count(name))
                problems.push_back(e.path().string() + ": in the store directory, but not a valid path");
        }
    if (fs::exists(config.staging_dir()))
        for (const auto& e : fs::directory_iterator(config.staging_dir()))
            if (!is_staging_lock(e.path().filename().string()))
                problems.push_back(e.path().string() + ": left in the staging area");
    return problems;
}

} // namespace ferry::test
