#include "ferry/sched/build_outputs.hh"

#include <sys/stat.h>

#include <cstdio>

#include "ferry/sched/build_failure.hh"
#include "ferry/store/canonicalise.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/store/reference_scanner.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

const fs::path& output_location(const LocalStore& store, const StorePath& drv_path, const std::string& name,
                                const StorePath& out, BuiltOutputs& built) {
    auto it = built.locations.find(name);
    struct stat st;
    if (it == built.locations.end() || ::lstat(it->second.c_str(), &st) != 0)
        throw BuildError("builder for '{}' failed to produce output path for output '{}' at '{}'",
                         store.print(drv_path), name, store.print(out));
    return it->second;
}

/// Canonicalises the tree at `path`, then hashes its NAR and scans it for `candidates` in one pass.
std::pair<NarHashResult, StorePathSet> hash_and_scan(const fs::path& path, const StorePathSet& candidates) {
    canonicalise_path(path);
    HashSink hash(HashAlgo::sha256);
    ReferenceScanner scanner(candidates);
    uint64_t size = 0;
    dump_path(path, [&](std::string_view chunk) {
        hash.update(chunk);
        scanner.feed(chunk);
        size += chunk.size();
    });
    return {NarHashResult{hash.finish(), size}, scanner.found()};
}

/// Checks a fixed-output derivation's output against its declared hash; returns its content address.
std::string check_fixed_output(const LocalStore& store, const StorePath& drv_path, const OutputHash& expected,
                               const fs::path& path, const NarHashResult& nar) {
    Hash got(expected.hash.algo);
    if (expected.method == FileIngestionMethod::flat) {
        if (!fs::is_regular_file(fs::symlink_status(path)))
            throw BuildError("output of fixed-output derivation '{}' is not a regular file",
                             store.print(drv_path));
        got = hash_file(expected.hash.algo, path);
    } else {
        got = expected.hash.algo == HashAlgo::sha256 ? nar.hash : hash_path(expected.hash.algo, path).hash;
    }
    if (got != expected.hash)
        throw OutputHashMismatch("hash mismatch in fixed-output derivation '{}': specified: {}, got: {}",
                                 store.print(drv_path), expected.hash.to_string(HashFormat::sri),
                                 got.to_string(HashFormat::sri));
    return std::string("fixed:") + (expected.method == FileIngestionMethod::recursive ? "r:" : "") +
           got.to_nix32_prefixed();
}

} // namespace

std::vector<StagedTree> stage_build_outputs(LocalStore& store, const StorePath& drv_path,
                                            const Derivation& drv,
                                            const std::map<std::string, StorePath>& outputs,
                                            BuiltOutputs& built, const StorePathSet& input_closure) {
    StorePathSet candidates = input_closure;
    for (const auto& [_, p] : outputs)
        candidates.insert(p);

    std::vector<StagedTree> trees;
    trees.reserve(outputs.size());
    for (const auto& [name, out] : outputs) {
        const auto& location = output_location(store, drv_path, name, out, built);
        auto staged = std::make_unique<StagedPath>(store.stage(out.name()));
        if (std::rename(location.c_str(), staged->path().c_str()) != 0)
            throw SysError(
                fmt::format("moving output '{}' of '{}' into the store", name, store.print(drv_path)));
        auto [nar, refs] = hash_and_scan(staged->path(), candidates);
        ValidPathInfo info(out, nar.hash, nar.nar_size);
        info.references = std::move(refs);
        info.deriver = drv_path;
        info.ultimate = true;
        if (auto fixed = drv.outputs.at(name).fixed_hash(); fixed && !fixed->text)
            info.ca = check_fixed_output(store, drv_path, *fixed, staged->path(), nar);
        trees.push_back(StagedTree{std::move(staged), std::move(info)});
    }
    return trees;
}

void commit_trees(LocalStore& store, std::vector<StagedTree> trees) {
    StorePathSet paths;
    for (const auto& t : trees)
        paths.insert(t.info.path);
    auto valid = store.query_valid_paths(paths);
    std::vector<StagedOutput> commits;
    for (auto& t : trees) {
        if (valid.count(t.info.path)) continue;
        if (!t.staged) throw Error("no staged contents for '{}'", store.print(t.info.path));
        commits.push_back(StagedOutput{t.staged.get(), t.info, true});
    }
    if (!commits.empty()) store.commit_staged(std::move(commits));
}

void register_build_outputs(LocalStore& store, const StorePath& drv_path, const Derivation& drv,
                            const std::map<std::string, StorePath>& outputs, BuiltOutputs& built,
                            const StorePathSet& input_closure) {
    auto trees = stage_build_outputs(store, drv_path, drv, outputs, built, input_closure);
    commit_trees(store, std::move(trees));
    store.register_derivation_outputs(drv_path, outputs);
}

std::map<std::string, Hash> hash_build_outputs(LocalStore& store, const StorePath& drv_path,
                                               const std::map<std::string, StorePath>& outputs,
                                               BuiltOutputs& built) {
    std::map<std::string, Hash> hashes;
    for (const auto& [name, out] : outputs) {
        const auto& location = output_location(store, drv_path, name, out, built);
        hashes.emplace(name, hash_and_scan(location, {}).first.hash);
    }
    return hashes;
}

} // namespace ferry
