#include "ferry/sched/platform.hh"

#include <nlohmann/json.hpp>

#include "ferry/sched/builder.hh"
#include "ferry/util/settings.hh"
#include "ferry/util/strings.hh"

namespace ferry {

namespace {

std::string join(const std::set<std::string>& words) {
    std::string out;
    for (const auto& w : words)
        out += (out.empty() ? "" : ", ") + w;
    return out;
}

} // namespace

Platform Platform::from(const Settings& settings) {
    Platform p;
    p.system = settings.system;
    p.extra_platforms = {settings.extra_platforms.begin(), settings.extra_platforms.end()};
    p.features = {settings.system_features.begin(), settings.system_features.end()};
    return p;
}

Platform Platform::native() {
    return from(Settings{});
}

std::set<std::string> required_system_features(const Derivation& drv) {
    std::set<std::string> features;
    if (auto json = drv.env.find("__json"); json != drv.env.end()) {
        nlohmann::json attrs;
        try {
            attrs = nlohmann::json::parse(json->second);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError("cannot process __json attribute: {}", e.what());
        }
        auto it = attrs.find("requiredSystemFeatures");
        if (it == attrs.end()) return features;
        if (!it->is_array())
            throw FormatError("attribute 'requiredSystemFeatures' must be a list of strings");
        for (const auto& f : *it) {
            if (!f.is_string())
                throw FormatError("attribute 'requiredSystemFeatures' must be a list of strings");
            features.insert(f.get<std::string>());
        }
        return features;
    }
    if (auto it = drv.env.find("requiredSystemFeatures"); it != drv.env.end())
        for (auto w : split_words(it->second))
            features.emplace(w);
    return features;
}

bool can_build(const Platform& platform, const Derivation& drv) {
    bool builtin = drv.builder.starts_with("builtin:");
    if (!builtin && drv.platform != platform.system && !platform.extra_platforms.count(drv.platform))
        return false;
    auto required = required_system_features(drv);
    return std::all_of(required.begin(), required.end(),
                       [&](const std::string& f) { return platform.features.count(f) > 0; });
}

void check_platform(const Platform& platform, const Derivation& drv, const std::string& drv_path) {
    bool builtin = drv.builder.starts_with("builtin:");
    auto required = required_system_features(drv);
    bool system_ok =
        builtin || drv.platform == platform.system || platform.extra_platforms.count(drv.platform);
    bool features_ok = std::all_of(required.begin(), required.end(),
                                   [&](const std::string& f) { return platform.features.count(f) > 0; });
    if (system_ok && features_ok) return;
    throw BuildError(
        "a '{}' with features {{{}}} is required to build '{}', but I am a '{}' with features {{{}}}",
        drv.platform, join(required), drv_path, platform.system, join(platform.features));
}

} // namespace ferry
