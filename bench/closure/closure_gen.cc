// closure-gen: writes a synthetic signed binary cache whose paths form a closure of a given size and
// depth, for bench/closure/run.sh.
//
//   closure-gen --out DIR [--paths 1055] [--depth 9] [--fanout 4] [--compression xz]
//
// The closure's top path (level 0) refers to paths of level 1, and so on down to level `depth`: the
// longest chain of references has `depth` edges, so discovering the closure takes depth + 1 rounds of
// narinfo requests. Writes DIR/cache/ (nix-cache-info, <hash>.narinfo, nar/*), DIR/public.key,
// DIR/secret.key and DIR/top (the top path). Deterministic apart from the signing key.

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "ferry/cache/narinfo.hh"
#include "ferry/cache/signature.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/compression.hh"
#include "ferry/util/encoding.hh"
#include "ferry/util/file.hh"
#include "ferry/util/hash.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

/// The NAR of a single regular file.
std::string file_nar(std::string_view contents) {
    std::string nar;
    auto str = [&](std::string_view s) {
        uint64_t n = s.size();
        for (int i = 0; i < 8; ++i)
            nar += char((n >> (8 * i)) & 0xff);
        nar += s;
        nar.append((8 - s.size() % 8) % 8, '\0');
    };
    for (auto s : {"nix-archive-1", "(", "type", "regular", "contents"})
        str(s);
    str(contents);
    str(")");
    return nar;
}

StorePath make_path(size_t level, size_t index) {
    auto h = hash_string(HashAlgo::sha256,
                         "ferry-closure-bench:" + std::to_string(level) + ":" + std::to_string(index));
    return StorePath(compress_hash(h, 20), "p" + std::to_string(level) + "-" + std::to_string(index));
}

/// Level sizes: 1 at the top, the remaining paths spread evenly over levels 1..depth.
std::vector<size_t> level_sizes(size_t paths, size_t depth) {
    std::vector<size_t> sizes{1};
    for (size_t k = 1; k <= depth; ++k)
        sizes.push_back((paths - 1) / depth + (k <= (paths - 1) % depth ? 1 : 0));
    return sizes;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Writes a synthetic signed binary cache for the closure benchmark"};
    std::string out;
    size_t paths = 1055, depth = 9, fanout = 4;
    std::string compression = "xz";
    app.add_option("--out", out, "Output directory")->required();
    app.add_option("--paths", paths, "Number of store paths")->capture_default_str();
    app.add_option("--depth", depth, "Edges on the longest reference chain")->capture_default_str();
    app.add_option("--fanout", fanout, "References of each path to the next level")->capture_default_str();
    app.add_option("--compression", compression, "xz, zstd, bzip2 or none")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (depth < 1 || paths < depth + 1) {
        std::fprintf(stderr, "closure-gen: need at least depth + 1 paths\n");
        return 2;
    }
    try {
        StoreDir dir;
        auto key = SecretKey::generate("ferry-bench-1");
        fs::create_directories(fs::path(out) / "cache" / "nar");
        write_file_atomic(fs::path(out) / "secret.key", key.to_string());
        write_file_atomic(fs::path(out) / "public.key", key.public_key().to_string());
        write_file_atomic(fs::path(out) / "cache" / "nix-cache-info",
                          "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");

        auto sizes = level_sizes(paths, depth);
        std::mt19937_64 rng(1055);
        for (size_t k = 0; k <= depth; ++k) {
            for (size_t i = 0; i < sizes[k]; ++i) {
                StorePathSet refs;
                if (k < depth) {
                    // Every path of the next level has at least one referrer; the rest are random.
                    for (size_t j = i; j < sizes[k + 1]; j += sizes[k])
                        refs.insert(make_path(k + 1, j));
                    for (size_t f = 0; f < fanout; ++f)
                        refs.insert(make_path(k + 1, rng() % sizes[k + 1]));
                }
                auto path = make_path(k, i);
                std::string contents = "synthetic path " + dir.print(path) + "\n";
                for (const auto& r : refs)
                    contents += dir.print(r) + "\n";
                auto nar = file_nar(contents);
                auto packed = compress(compression, nar);
                auto file_hash = hash_string(HashAlgo::sha256, packed);
                std::string nar_file = "nar/" + file_hash.to_string(HashFormat::nix32, false) + ".nar" +
                                       std::string(compression_extension(compression));
                write_file_atomic(fs::path(out) / "cache" / nar_file, packed);
                NarInfo info{.path = path};
                info.url = nar_file;
                info.compression = compression;
                info.file_hash = file_hash;
                info.file_size = packed.size();
                info.nar_hash = hash_string(HashAlgo::sha256, nar);
                info.nar_size = nar.size();
                info.references = refs;
                info.signatures.insert(key.sign(info.fingerprint(dir)));
                write_file_atomic(fs::path(out) / "cache" / (std::string(path.hash_part()) + ".narinfo"),
                                  info.to_string(dir));
            }
        }
        write_file_atomic(fs::path(out) / "top", dir.print(make_path(0, 0)) + "\n");
        std::printf("%s\n", dir.print(make_path(0, 0)).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
