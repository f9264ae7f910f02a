// parse_machines: Nix 2.8's expandBuilderLines and parseBuilderLine (src/libstore/machines.cc), with
// errors that say where the line is.

#include "ferry/remote/machine_file.hh"

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "ferry/util/encoding.hh"
#include "ferry/util/strings.hh"

namespace ferry {

namespace {

/// How deep `@FILE` includes may nest (Nix recurses without a bound; a file including itself would
/// never end).
constexpr int kMaxIncludeDepth = 16;

std::string_view trim(std::string_view s) {
    constexpr std::string_view blanks = " \t\n\r";
    auto first = s.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    auto last = s.find_last_not_of(blanks);
    return s.substr(first, last - first + 1);
}

std::vector<std::string> split_on(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        auto end = s.find(sep, start);
        if (end == std::string_view::npos) end = s.size();
        if (end > start) out.emplace_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

/// Every line of `text`, empty ones too (so that lines keep their numbers).
std::vector<std::string_view> split_on_lines(std::string_view text) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

/// The text of an included file; empty when it does not exist (as Nix). Other errors throw.
std::optional<std::string> read_machines_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw SysError(fmt::format("cannot read machines file '{}'", path));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void expand(std::string_view text, std::string_view local_system, const std::string& source, int depth,
            const MachinesFileReader& read, std::vector<MachineSpec>& out) {
    size_t line_no = 0;
    for (auto physical : split_on_lines(text)) {
        ++line_no;
        for (const auto& piece : split_on(physical, ';')) {
            std::string_view line = trim(piece);
            line = line.substr(0, line.find('#'));
            if (line.empty()) continue;
            auto where = fmt::format("{}:{}", source, line_no);
            if (line[0] == '@') {
                std::string path(trim(line.substr(1)));
                if (depth >= kMaxIncludeDepth)
                    throw FormatError("{}: machines file '{}' nested more than {} includes deep", where, path,
                                      kMaxIncludeDepth);
                auto included = read(path);
                if (included) expand(*included, local_system, path, depth + 1, read, out);
                continue;
            }
            out.push_back(parse_machine_line(line, local_system, where));
        }
    }
}

unsigned parse_unsigned_field(const std::vector<std::string_view>& tokens, size_t i, std::string_view line,
                              std::string_view where) {
    auto t = tokens[i];
    unsigned n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || p != t.data() + t.size())
        throw FormatError("{}: bad machine specification: failed to convert column #{} in a row: '{}' to "
                          "'unsigned int'",
                          where, i, line);
    return n;
}

template <typename Container> Container comma_list(std::string_view field) {
    Container out;
    for (const auto& w : split_on(field, ','))
        out.insert(out.end(), w);
    return out;
}

void check_uri(const std::string& uri, std::string_view where) {
    if (uri.starts_with("ssh-ng://"))
        throw Error("{}: machine '{}': the ssh-ng:// protocol is not supported yet (use ssh://)", where, uri);
    if (!uri.starts_with("ssh://"))
        throw Error("{}: machine '{}': only ssh:// machines are supported, not other kinds of store", where,
                    uri);
}

} // namespace

MachineSpec parse_machine_line(std::string_view line, std::string_view local_system, std::string_view where) {
    auto tokens = split_words(line);
    auto is_set = [&](size_t i) { return tokens.size() > i && !tokens[i].empty() && tokens[i] != "-"; };
    if (!is_set(0))
        throw FormatError("{}: bad machine specification: store URL was not found at the first column of a "
                          "row: '{}'",
                          where, line);
    MachineSpec spec;
    std::string uri(tokens[0]);
    // As Nix: a URI without a scheme that is not a path nor a store word is an SSH host.
    bool keep = uri.find("://") != std::string::npos || uri.find('/') != std::string::npos || uri == "auto" ||
                uri == "daemon" || uri == "local" || uri.starts_with("auto?") || uri.starts_with("daemon?") ||
                uri.starts_with("local?") || uri.starts_with("?");
    spec.uri = keep ? uri : "ssh://" + uri;
    check_uri(spec.uri, where);
    if (is_set(1))
        spec.systems = comma_list<std::vector<std::string>>(tokens[1]);
    else
        spec.systems = {std::string(local_system)};
    if (is_set(2)) spec.ssh_key = tokens[2];
    if (is_set(3)) spec.max_jobs = parse_unsigned_field(tokens, 3, line, where);
    // Nix 2.8 reads the speed factor as an unsigned integer, at least 1.
    if (is_set(4)) spec.speed_factor = std::max(1u, parse_unsigned_field(tokens, 4, line, where));
    if (is_set(5)) spec.supported_features = comma_list<std::set<std::string>>(tokens[5]);
    if (is_set(6)) spec.mandatory_features = comma_list<std::set<std::string>>(tokens[6]);
    if (is_set(7)) {
        try {
            base64_decode(tokens[7]);
        } catch (const Error& e) {
            throw FormatError("{}: bad machine specification: a column #7 in a row: '{}' is not valid base64 "
                              "string: {}",
                              where, line, e.what());
        }
        spec.public_host_key = tokens[7];
    }
    return spec;
}

std::vector<MachineSpec> parse_machines(std::string_view text, std::string_view local_system,
                                        std::string_view source) {
    return parse_machines(text, local_system, source, read_machines_file);
}

std::vector<MachineSpec> parse_machines(std::string_view text, std::string_view local_system,
                                        std::string_view source, const MachinesFileReader& read) {
    std::vector<MachineSpec> out;
    expand(text, local_system, std::string(source), 0, read, out);
    return out;
}

} // namespace ferry
