#include "support/fixtures.hh"

#include <cstdlib>
#include <stdexcept>

namespace ferry::test {

namespace {
std::filesystem::path from_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set; run the tests through meson test");
    return v;
}
} // namespace

std::filesystem::path fixtures_dir() { return from_env("FERRY_FIXTURES"); }
std::filesystem::path test_data_dir() { return from_env("FERRY_TEST_DATA"); }
std::filesystem::path build_root() { return from_env("FERRY_BUILD_ROOT"); }

} // namespace ferry::test
