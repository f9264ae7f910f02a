#include "support/store_gen.hh"

#include <fcntl.h>

#include "ferry/store/gc_roots.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/hash.hh"

namespace fs = std::filesystem;

namespace ferry::test {

namespace {

StorePath make_path(const std::string& name) {
    auto digest = compress_hash(hash_string(HashAlgo::sha256, "generated:" + name), 20);
    return StorePath(digest, name);
}

ValidPathInfo write_path(LocalStore& store, const StorePath& path, StorePathSet refs) {
    fs::path real = store.real_path(path);
    std::string contents = std::string(path.name()) + "\n";
    for (const auto& r : refs)
        contents += store.print(r) + "\n";
    UniqueFd fd(::open(real.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444));
    if (!fd) throw SysError("creating '" + real.string() + "'");
    write_full(fd.get(), contents, real.string());
    ValidPathInfo info(path);
    auto nar = hash_path(HashAlgo::sha256, real);
    info.nar_hash = nar.hash;
    info.nar_size = nar.nar_size;
    info.references = std::move(refs);
    return info;
}

} // namespace

GeneratedStore generate_store(LocalStore& store, size_t live, size_t garbage, const std::string& prefix) {
    GeneratedStore g;
    std::vector<ValidPathInfo> batch;
    auto flush = [&] {
        store.register_valid_paths(batch);
        batch.clear();
    };
    for (size_t i = 0; i < live; ++i) {
        g.live.push_back(make_path(prefix + "live-" + std::to_string(i)));
        StorePathSet refs;
        if (i > 0) refs = {g.live[i - 1], g.live[i / 2]};
        batch.push_back(write_path(store, g.live[i], std::move(refs)));
        if (batch.size() == 5000) flush();
    }
    for (size_t i = 0; i < garbage; ++i) {
        g.garbage.push_back(make_path(prefix + "garbage-" + std::to_string(i)));
        StorePathSet refs;
        if (i > 0) refs.insert(g.garbage[i - 1]);
        if (live) refs.insert(g.live[i % live]);
        batch.push_back(write_path(store, g.garbage[i], std::move(refs)));
        if (batch.size() == 5000) flush();
    }
    flush();
    if (live) {
        auto dir = gc_roots_dir(store.config());
        make_directories(dir);
        fs::create_symlink(store.print(g.live.back()), dir / (prefix + "generated"));
    }
    return g;
}

} // namespace ferry::test
