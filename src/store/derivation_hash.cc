#include "ferry/store/derivation_hash.hh"

#include "ferry/util/error.hh"

namespace ferry {

std::map<std::string, Hash> DerivationHasher::hash_modulo(const Derivation& drv, bool mask_outputs) {
    std::map<std::string, Hash> hashes;
    if (drv.is_fixed_output()) {
        for (const auto& [name, out] : drv.outputs) {
            auto fh = *out.fixed_hash();
            auto path = dir_.make_fixed_output_path(fh.method, fh.hash, output_path_name(drv.name, name));
            hashes.emplace(name,
                           hash_string(HashAlgo::sha256, fmt::format("fixed:out:{}:{}:{}", fh.method_algo(),
                                                                     fh.hash.to_base16(), dir_.print(path))));
        }
        return hashes;
    }
    std::map<std::string, std::set<std::string>> inputs;
    for (const auto& [drv_path, wanted] : drv.input_drvs) {
        const auto& input_hashes = path_hash(drv_path);
        for (const auto& output : wanted) {
            auto it = input_hashes.find(output);
            if (it == input_hashes.end())
                throw FormatError("derivation '{}' has no output '{}' (wanted by '{}')", dir_.print(drv_path),
                                  output, drv.name);
            inputs[it->second.to_base16()].insert(output);
        }
    }
    UnparseOptions options{.mask_outputs = mask_outputs, .actual_inputs = &inputs};
    auto hash = hash_string(HashAlgo::sha256, unparse_derivation(dir_, drv, options));
    for (const auto& [name, _] : drv.outputs)
        hashes.emplace(name, hash);
    return hashes;
}

const std::map<std::string, Hash>& DerivationHasher::path_hash(const StorePath& drv_path) {
    if (auto it = cache_.find(drv_path.to_string()); it != cache_.end()) return it->second;
    auto hashes = with_context(fmt::format("while hashing derivation '{}'", dir_.print(drv_path)),
                               [&] { return hash_modulo(loader_(drv_path), false); });
    return cache_.emplace(drv_path.to_string(), std::move(hashes)).first->second;
}

std::map<std::string, StorePath> DerivationHasher::output_paths(const Derivation& drv) {
    std::map<std::string, StorePath> paths;
    if (drv.is_fixed_output()) {
        for (const auto& [name, out] : drv.outputs) {
            auto fh = *out.fixed_hash();
            paths.emplace(name,
                          dir_.make_fixed_output_path(fh.method, fh.hash, output_path_name(drv.name, name)));
        }
        return paths;
    }
    for (const auto& [name, out] : drv.outputs)
        if (!out.hash_algo.empty())
            throw FormatError(
                "derivation '{}': output '{}' is content-addressed, which ferry does not support", drv.name,
                name);
    auto hashes = hash_modulo(drv, true);
    for (const auto& [name, hash] : hashes)
        paths.emplace(name, dir_.make_output_path(name, hash, drv.name));
    return paths;
}

void DerivationHasher::check_outputs(const Derivation& drv) {
    for (const auto& [name, path] : output_paths(drv)) {
        const auto& written = drv.outputs.at(name).path;
        if (written != dir_.print(path))
            throw FormatError("derivation '{}' has incorrect output '{}': '{}', should be '{}'", drv.name,
                              name, written, dir_.print(path));
        auto env = drv.env.find(name);
        if (env == drv.env.end() || env->second != written)
            throw FormatError("derivation '{}' has incorrect environment variable '{}', should be '{}'",
                              drv.name, name, written);
    }
}

void DerivationHasher::fill_outputs(Derivation& drv) {
    bool any_empty = false;
    for (auto& [name, out] : drv.outputs) {
        if (out.path.empty()) {
            any_empty = true;
            drv.env[name] = "";
        }
    }
    if (any_empty) {
        // Input-addressed paths hash the derivation with outputs masked, so blanks are what Nix hashes.
        for (const auto& [name, path] : output_paths(drv)) {
            drv.outputs[name].path = dir_.print(path);
            drv.env[name] = dir_.print(path);
        }
    }
    check_outputs(drv);
}

} // namespace ferry
