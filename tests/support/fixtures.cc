#include "support/fixtures.hh"

#include <algorithm>
#include <cstdlib>

namespace ferry::test {

namespace {
// The environment overrides the paths meson compiled in, so a test binary also runs on its own.
std::filesystem::path from_env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : fallback;
}
} // namespace

std::filesystem::path fixtures_dir() {
    return from_env("FERRY_FIXTURES", FERRY_DEFAULT_FIXTURES);
}
std::filesystem::path test_data_dir() {
    return from_env("FERRY_TEST_DATA", FERRY_DEFAULT_TEST_DATA);
}
std::vector<std::filesystem::path> fuzz_regressions(const std::string& target) {
    std::vector<std::filesystem::path> out;
    std::filesystem::path dir = test_data_dir() / "fuzz-regressions" / target;
    if (!std::filesystem::is_directory(dir)) return out;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
}
std::filesystem::path build_root() {
    return from_env("FERRY_BUILD_ROOT", FERRY_DEFAULT_BUILD_ROOT);
}

} // namespace ferry::test
