// The ssh command line of a machine: Nix's legacy ssh store (`ssh://` URIs, remote-program, remote-store,
// NIX_SSHOPTS, the machine's host key in a known_hosts file of its own).

#include <cstdlib>

#include "ferry/remote/piped_child.hh"
#include "ferry/remote/ssh_machine.hh"
#include "ferry/util/strings.hh"

namespace ferry {

std::vector<std::string> ssh_options_from_env() {
    std::vector<std::string> out;
    if (const char* s = std::getenv("NIX_SSHOPTS"))
        for (auto w : split_words(s))
            out.emplace_back(w);
    return out;
}

namespace {
std::string percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}
} // namespace

SshUri parse_ssh_uri(const std::string& uri) {
    constexpr std::string_view scheme = "ssh://";
    if (!std::string_view(uri).starts_with(scheme))
        throw Error("machine URI '{}' is not ssh://[user@]host[:port]", uri);
    std::string_view rest = std::string_view(uri).substr(scheme.size());
    SshUri out;
    std::string_view params;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        params = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (rest.empty()) throw Error("machine URI '{}' has no host", uri);
    std::string_view user;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        user = rest.substr(0, at + 1);
        rest = rest.substr(at + 1);
    }
    if (auto colon = rest.rfind(':');
        colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
        out.port = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (out.port.empty() || out.port.find_first_not_of("0123456789") != std::string::npos)
            throw Error("machine URI '{}' has an invalid port '{}'", uri, out.port);
    }
    out.hostname = std::string(rest);
    out.host = std::string(user) + out.hostname;
    while (!params.empty()) {
        auto amp = params.find('&');
        auto kv = params.substr(0, amp);
        params = amp == std::string_view::npos ? std::string_view() : params.substr(amp + 1);
        auto eq = kv.find('=');
        auto key = kv.substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string() : percent_decode(kv.substr(eq + 1));
        if (key == "remote-program")
            out.remote_program = value;
        else if (key == "remote-store")
            out.remote_store = value;
        else if (key == "max-connections" || key == "compress" || key == "ssh-key" ||
                 key == "base64-ssh-public-host-key" || key == "log-fd")
            continue; // Nix's other store settings; the machine line's fields say the same
        else
            throw Error("machine URI '{}': unknown setting '{}'", uri, key);
    }
    return out;
}

std::vector<std::string> ssh_command(const MachineSpec& spec, const SshUri& uri, const SshOptions& options,
                                     const std::string& known_hosts) {
    std::vector<std::string> argv{options.ssh_program, uri.host, "-x", "-a", "-oBatchMode=yes"};
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    if (!spec.ssh_key.empty()) argv.insert(argv.end(), {"-i", spec.ssh_key});
    if (!known_hosts.empty()) argv.push_back("-oUserKnownHostsFile=" + known_hosts);
    if (!uri.port.empty()) argv.insert(argv.end(), {"-p", uri.port});
    std::vector<std::string> remote;
    for (auto w : split_words(uri.remote_program))
        remote.emplace_back(w);
    remote.insert(remote.end(), {"--serve", "--write"});
    if (!uri.remote_store.empty()) remote.insert(remote.end(), {"--store", uri.remote_store});
    argv.push_back(shell_quote_command(remote));
    return argv;
}

} // namespace ferry
