#include "cache_support.hh"

#include <cstring>

#include "ferry/store/nar_format.hh"
#include "ferry/util/compression.hh"
#include "ferry/util/file.hh"
#include "ferry/util/hash.hh"

namespace fs = std::filesystem;

namespace ferry::test {

namespace {

void put_string(std::string& out, std::string_view s) {
    uint64_t n = s.size();
    char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = char((n >> (8 * i)) & 0xff);
    out.append(len, 8);
    out.append(s);
    out.append(nar_padding(s.size()), '\0');
}

} // namespace

StorePath synthetic_store_path(const std::string& name) {
    return StoreDir().make_store_path("output:out", hash_string(HashAlgo::sha256, "synthetic " + name), name);
}

std::string regular_file_nar(std::string_view contents) {
    std::string nar;
    nar.reserve(contents.size() + 128);
    for (std::string_view s : {"nix-archive-1", "(", "type", "regular", "contents"})
        put_string(nar, s);
    put_string(nar, contents);
    put_string(nar, ")");
    return nar;
}

std::vector<NarInfo> write_synthetic_cache(const fs::path& dir, const std::vector<SyntheticPath>& paths,
                                           const SecretKey& key, const std::string& compression,
                                           const std::string& store_dir, int priority) {
    StoreDir sd(store_dir);
    fs::create_directories(dir / "nar");
    CacheInfo meta;
    meta.store_dir = store_dir;
    meta.priority = priority;
    write_file_atomic(dir / "nix-cache-info", meta.to_string());
    std::vector<NarInfo> out;
    for (const auto& p : paths) {
        std::string nar = regular_file_nar(p.contents);
        std::string file = compress(compression, nar);
        NarInfo info{.path = p.path};
        info.compression = compression;
        info.file_hash = hash_string(HashAlgo::sha256, file);
        info.file_size = file.size();
        info.url = "nar/" + info.file_hash->to_string(HashFormat::nix32, false) + ".nar" +
                   std::string(compression_extension(compression));
        info.nar_hash = hash_string(HashAlgo::sha256, nar);
        info.nar_size = nar.size();
        info.references = p.references;
        info.signatures = {key.sign(info.fingerprint(sd))};
        write_file_atomic(dir / info.url, file);
        write_file_atomic(dir / (std::string(p.path.hash_part()) + ".narinfo"), info.to_string(sd));
        out.push_back(std::move(info));
    }
    return out;
}

std::vector<SyntheticPath> synthetic_tree(const std::string& tag, size_t depth, size_t width, size_t fanout) {
    std::vector<SyntheticPath> out;
    out.push_back({synthetic_store_path(tag + "-root"), {}, "root of " + tag});
    std::vector<size_t> level{0};
    for (size_t d = 1; d <= depth; ++d) {
        std::vector<size_t> next;
        size_t count = d == 1 ? width : fanout;
        for (size_t parent : level) {
            for (size_t i = 0; i < count; ++i) {
                std::string name = tag + "-l" + std::to_string(d) + "-" + std::to_string(out.size());
                StorePath p = synthetic_store_path(name);
                out[parent].references.insert(p);
                out.push_back({p, {}, "contents of " + name});
                next.push_back(out.size() - 1);
            }
        }
        level = std::move(next);
    }
    return out;
}

fs::path narinfo_file(const fs::path& dir, const StorePath& path) {
    return dir / (std::string(path.hash_part()) + ".narinfo");
}

NarInfo read_narinfo(const fs::path& file) {
    return NarInfo::parse(StoreDir(), read_file(file), file.string());
}

void write_narinfo(const fs::path& file, const NarInfo& info) {
    fs::remove(file);
    write_file_atomic(file, info.to_string(StoreDir()));
}

} // namespace ferry::test
