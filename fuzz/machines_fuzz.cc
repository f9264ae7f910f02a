/// Machine lines (`builders`, /etc/nix/machines) as parse_machines reads them: either a ferry::Error or
/// machines whose fields hold no blank, `;` or `#`, with an ssh:// URI and a speed of at least 1, that
/// printed as one line each parse back to the same machines. `@FILE` includes read from a few in-memory
/// files (one includes itself), never from the file system.
#include <map>

#include "ferry/remote/machine_file.hh"
#include "ferry/util/encoding.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace {

std::optional<std::string> read_include(const std::string& path) {
    static const std::map<std::string, std::string> files{
        {"/fuzz/a", "ssh://a x86_64-linux - 2 1 kvm - -\n@/fuzz/b # more\n"},
        {"/fuzz/b", "b;c aarch64-linux /key 1 2 big-parallel benchmark"},
        {"/fuzz/self", "x;@/fuzz/self"},
        {"/fuzz/bad", "host - - many"},
    };
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
}

/// A list field: "-" when empty; a list that would print as "-" gets a trailing comma.
template <typename List> std::string field(const List& words) {
    std::string out;
    for (const auto& w : words)
        out += (out.empty() ? "" : ",") + w;
    if (words.empty()) return "-";
    return out == "-" ? out + "," : out;
}

std::string print(const ferry::MachineSpec& m) {
    std::string systems = m.systems.empty() ? "," : field(m.systems);
    return fmt::format("{} {} {} {} {} {} {} {}", m.uri, systems, m.ssh_key.empty() ? "-" : m.ssh_key,
                       m.max_jobs, unsigned(m.speed_factor), field(m.supported_features),
                       field(m.mandatory_features), m.public_host_key.empty() ? "-" : m.public_host_key);
}

bool clean(std::string_view s) {
    return s.find_first_of(" \t\n\r;#") == std::string_view::npos;
}

bool same(const ferry::MachineSpec& a, const ferry::MachineSpec& b) {
    return a.uri == b.uri && a.systems == b.systems && a.ssh_key == b.ssh_key && a.max_jobs == b.max_jobs &&
           a.speed_factor == b.speed_factor && a.supported_features == b.supported_features &&
           a.mandatory_features == b.mandatory_features && a.public_host_key == b.public_host_key;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    std::vector<MachineSpec> machines;
    try {
        machines = parse_machines(fuzz::as_text(data, size), "x86_64-linux", "fuzz", read_include);
    } catch (const Error&) {
        return 0;
    }
    std::string printed;
    for (const auto& m : machines) {
        if (!m.uri.starts_with("ssh://") || !clean(m.uri) || !clean(m.ssh_key) || !clean(m.public_host_key))
            fuzz::violated("a field holds a separator, or the URI is not ssh://");
        if (m.speed_factor < 1) fuzz::violated("speed factor below 1");
        for (const auto& s : m.systems)
            if (s.empty() || !clean(s) || s.find(',') != std::string::npos) fuzz::violated("a bad system");
        if (!m.public_host_key.empty()) (void)base64_decode(m.public_host_key);
        printed += print(m) + "\n";
    }
    auto again = parse_machines(printed, "x86_64-linux", "printed", read_include);
    if (again.size() != machines.size()) fuzz::violated("a different number of machines after printing");
    for (size_t i = 0; i < again.size(); ++i)
        if (!same(again[i], machines[i])) fuzz::violated("machine print/parse round trip");
    return 0;
}
