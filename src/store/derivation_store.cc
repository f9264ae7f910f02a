#include "ferry/store/derivation_store.hh"

#include <nlohmann/json.hpp>

#include "ferry/store/derivation_json.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

std::string drv_name_of(const StorePath& drv) {
    auto name = std::string(drv.name());
    return name.substr(0, name.size() - 4);
}

Derivation parse_json_derivation(const StoreDir& dir, std::string_view text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError("invalid JSON: {}", e.what());
    }
    if (j.is_object() && !j.contains("outputs") && j.size() == 1) {
        auto path = dir.parse(j.begin().key());
        if (!path.is_derivation()) throw FormatError("'{}' is not a .drv path", j.begin().key());
        return derivation_from_json(dir, j.begin().value(), drv_name_of(path));
    }
    return derivation_from_json(dir, j);
}

} // namespace

Derivation read_derivation(LocalStore& store, const StorePath& drv) {
    if (!store.is_valid_path(drv)) throw InvalidPath("derivation '{}' is not valid", store.print(drv));
    auto text = read_file(store.real_path(drv));
    return with_context(fmt::format("reading derivation '{}'", store.print(drv)),
                        [&] { return parse_derivation(store.store_dir(), text, drv_name_of(drv)); });
}

DerivationHasher store_derivation_hasher(LocalStore& store) {
    return DerivationHasher(store.store_dir(),
                            [&store](const StorePath& p) { return read_derivation(store, p); });
}

Derivation parse_derivation_file(const StoreDir& dir, std::string_view text, std::string_view where) {
    return with_context(fmt::format("reading '{}'", where), [&] {
        auto start = text.find_first_not_of(" \t\r\n");
        if (start != std::string_view::npos && text[start] == '{') return parse_json_derivation(dir, text);
        std::string name;
        auto base = std::filesystem::path(where).filename().string();
        if (base.ends_with(".drv") && dir.try_parse(dir.dir() + "/" + base))
            name = drv_name_of(StorePath(base));
        return parse_derivation(dir, text, name);
    });
}

StorePath add_derivation(LocalStore& store, Derivation drv) {
    auto hasher = store_derivation_hasher(store);
    return add_derivation(store, std::move(drv), hasher);
}

StorePath add_derivation(LocalStore& store, Derivation drv, DerivationHasher& hasher) {
    hasher.fill_outputs(drv);
    for (const auto& ref : drv.references())
        if (!store.is_valid_path(ref))
            throw InvalidPath("cannot add derivation '{}': its input '{}' is not valid", drv.name,
                              store.print(ref));
    return store.add_text(drv.name + ".drv", unparse_derivation(store.store_dir(), drv), drv.references());
}

std::vector<StorePath> add_derivations(LocalStore& store, std::vector<Derivation> drvs) {
    std::vector<std::optional<StorePath>> added(drvs.size());
    auto hasher = store_derivation_hasher(store);
    for (size_t remaining = drvs.size(); remaining > 0;) {
        size_t before = remaining;
        for (size_t i = 0; i < drvs.size(); ++i) {
            if (added[i]) continue;
            bool ready = true;
            for (const auto& [input, _] : drvs[i].input_drvs)
                ready = ready && store.is_valid_path(input);
            if (!ready) continue;
            added[i] = add_derivation(store, drvs[i], hasher);
            --remaining;
        }
        if (remaining == before) {
            // Nothing could be added: name the first missing input.
            for (size_t i = 0; i < drvs.size(); ++i)
                if (!added[i]) add_derivation(store, drvs[i], hasher);
        }
    }
    std::vector<StorePath> out;
    for (auto& p : added)
        out.push_back(*p);
    return out;
}

} // namespace ferry
