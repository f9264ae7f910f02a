/// nix.conf text (Nix's files, ferry.conf, NIX_CONFIG): Settings::apply_config either applies it or
/// throws a ferry::Error ("FILE:LINE: …"); the effective settings can then always be printed.
/// Includes are resolved relative to a directory that does not exist, and inputs that name an absolute
/// include are skipped, so the fuzzer reads no file of the host.
#include "ferry/util/error.hh"
#include "ferry/util/settings.hh"
#include "fuzz_support.hh"

namespace {

/// Whether a line of `text` might include a file by an absolute or parent path.
bool names_outside_file(std::string_view text) {
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find_first_of("\n\r", pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        if (line.find("include") != std::string_view::npos && line.find('/') != std::string_view::npos)
            return true;
        pos = end + 1;
    }
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::string_view text = fuzz::as_text(data, size);
    if (names_outside_file(text)) return 0;
    Settings settings;
    try {
        settings.apply_config(text, "/nonexistent-ferry-fuzz/nix.conf");
    } catch (const Error&) {
    }
    for (const auto& name : Settings::names()) {
        (void)settings.get(name);
        (void)settings.origin(name);
    }
    return 0;
}
