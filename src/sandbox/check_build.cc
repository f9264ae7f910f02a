#include "ferry/sandbox/check_build.hh"

#include "ferry/sched/build_outputs.hh"
#include "ferry/store/local_store.hh"

namespace ferry {

void check_rebuild(LocalStore& store, const StorePath& drv_path,
                   const std::map<std::string, StorePath>& outputs, BuiltOutputs& rebuilt) {
    std::map<std::string, Hash> valid;
    for (const auto& [name, path] : outputs)
        valid.emplace(name, store.require_path_info(path).nar_hash);
    auto hashes = hash_build_outputs(store, drv_path, outputs, rebuilt);
    for (const auto& [name, hash] : hashes)
        if (hash != valid.at(name))
            throw NotDeterministic(
                fmt::format("derivation '{}' may not be deterministic: output '{}' differs",
                            store.print(drv_path), store.print(outputs.at(name))),
                name);
}

} // namespace ferry
