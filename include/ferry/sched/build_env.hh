#pragma once
/// The environment a builder runs with, exactly as Nix 2.8 sets it up (initEnv/initTmpDir), and the
/// files it writes into the build directory (passAsFile). Pure: the caller writes the files.

#include <map>
#include <string>

#include "ferry/store/derivation.hh"

namespace ferry {

struct BuildEnvironment {
    std::map<std::string, std::string> vars;
    /// File name (relative to the build directory) → contents, for `passAsFile` variables.
    std::map<std::string, std::string> files;
};

struct BuildEnvOptions {
    std::string store_dir = "/nix/store";
    /// The build directory as the builder sees it: "/build" in the sandbox, the host path otherwise.
    std::string build_top = "/build";
    unsigned cores = 1;
    /// Values of this process's environment for a fixed-output derivation's `impureEnvVars`.
    std::map<std::string, std::string> impure_env;
};

/// PATH=/path-not-set, HOME=/homeless-shelter, NIX_STORE, NIX_BUILD_CORES; the derivation's env
/// (passAsFile variables become "<name>Path" pointing at ".attr-<nix32 sha256 of name>"); NIX_BUILD_TOP,
/// TMPDIR, TEMPDIR, TMP, TEMP, PWD; NIX_OUTPUT_CHECKED=1 and impureEnvVars for fixed-output
/// derivations; NIX_LOG_FD=2, TERM=xterm-256color.
BuildEnvironment make_build_environment(const Derivation& drv, const BuildEnvOptions& options);

} // namespace ferry
