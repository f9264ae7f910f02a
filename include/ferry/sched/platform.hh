#pragma once
/// Whether this machine can build a derivation: its `system` against the `system` and `extra-platforms`
/// settings (builders "builtin:…" run anywhere), its `requiredSystemFeatures` against `system-features`,
/// as Nix's canBuildLocally. Pure: no I/O.

#include <set>
#include <string>

#include "ferry/store/derivation.hh"

namespace ferry {

struct Settings;

/// What this machine builds. Plain data, copied into the worker's options.
struct Platform {
    std::string system = "x86_64-linux";
    std::set<std::string> extra_platforms;
    std::set<std::string> features;

    /// From the `system`, `extra-platforms` and `system-features` settings.
    static Platform from(const Settings& settings);
    /// This machine with the settings' defaults.
    static Platform native();
};

/// The features `drv` requires: the words of its `requiredSystemFeatures` (a list in `__json`).
/// Throws FormatError when `__json` does not parse or the attribute is not a list of strings.
std::set<std::string> required_system_features(const Derivation& drv);

/// Whether `platform` can build `drv` (what check_platform() checks, without throwing).
bool can_build(const Platform& platform, const Derivation& drv);

/// Throws BuildError with Nix's message ("a 'aarch64-linux' with features {} is required to build
/// '…drv', but I am a 'x86_64-linux' with features {benchmark, big-parallel, kvm, nixos-test}") when
/// `platform` cannot build `drv`.
void check_platform(const Platform& platform, const Derivation& drv, const std::string& drv_path);

} // namespace ferry
