#include "ferry/sched/check_build.hh"

#include <cstdio>

#include "ferry/sched/build_outputs.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/store/verify.hh"
#include "ferry/util/events.hh"
#include "ferry/util/file.hh"

namespace ferry {

void check_rebuild(LocalStore& store, const StorePath& drv_path,
                   const std::map<std::string, StorePath>& outputs, BuiltOutputs& rebuilt, bool keep_failed,
                   bool repair) {
    std::map<std::string, Hash> valid;
    for (const auto& [name, path] : outputs)
        valid.emplace(name, store.require_path_info(path).nar_hash);
    auto hashes = hash_build_outputs(store, drv_path, outputs, rebuilt);
    for (const auto& [name, hash] : hashes) {
        if (hash == valid.at(name)) continue;
        auto message = fmt::format("derivation '{}' may not be deterministic: output '{}' differs",
                                   store.print(drv_path), store.print(outputs.at(name)));
        if (keep_failed) {
            auto kept = store.real_path(outputs.at(name));
            kept += ".check";
            delete_path(kept);
            move_into_place(rebuilt.locations.at(name), kept);
            message += fmt::format(" from '{}'", kept.string());
        }
        throw NotDeterministic(std::move(message), name);
    }
    if (!repair) return;
    for (const auto& [name, path] : outputs) {
        StagedPath staged = store.stage(path.name());
        if (std::rename(rebuilt.locations.at(name).c_str(), staged.path().c_str()) != 0)
            throw SysError(fmt::format("moving the rebuilt output '{}' of '{}' into the store", name,
                                       store.print(drv_path)));
        replace_locked_path_contents(store, path, staged);
        log_at(Level::info, "repaired path '{}' by rebuilding '{}'", store.print(path),
               store.print(drv_path));
    }
}

} // namespace ferry
