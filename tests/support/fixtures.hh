#pragma once
/// Where the tests find their data: the Nix 2.8 fixtures and tests/data.

#include <filesystem>
#include <string>
#include <vector>

namespace ferry::test {

/// tests/data/nix-2.8, the files made by real Nix 2.8 (env FERRY_FIXTURES).
std::filesystem::path fixtures_dir();
/// tests/data/nix-2.8/compat
inline std::filesystem::path compat_dir() {
    return fixtures_dir() / "compat";
}
/// tests/data (env FERRY_TEST_DATA).
std::filesystem::path test_data_dir();
/// The inputs a fuzz target (fuzz/targets.txt) once crashed on, kept as regression tests:
/// tests/data/fuzz-regressions/<target>/*, sorted; none when the directory does not exist.
std::vector<std::filesystem::path> fuzz_regressions(const std::string& target);
/// The meson build directory (env FERRY_BUILD_ROOT); the `ferry` binary is at build_root()/"ferry".
std::filesystem::path build_root();

} // namespace ferry::test
