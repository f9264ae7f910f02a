#pragma once
/// Nix's machine specifications (the `builders` setting, `/etc/nix/machines`), parsed as Nix 2.8's
/// machines.cc parses them: lines split on newlines and `;`, `#` to the end of a line a comment, `@FILE`
/// includes FILE (a missing file holds no machines), then per line the fields
///
///     URI SYSTEMS SSH-KEY MAX-JOBS SPEED-FACTOR SUPPORTED-FEATURES MANDATORY-FEATURES BASE64-HOST-KEY
///
/// separated by blanks, `-` or a missing field taking the default (the local system, ssh's key, 1 job,
/// speed 1, no features, ssh's known_hosts). A URI without a scheme gets `ssh://`. Pure apart from
/// reading included files; no threads.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/sched/build_machine.hh"

namespace ferry {

/// Parses the value of `builders`. `local_system` fills a `-` systems field; `source` names the text in
/// errors (the setting, or a file). Throws FormatError naming the source, its line and the line's text:
/// a missing URI, a number that is not an unsigned integer, a host key that is not base64, an include
/// nested too deeply; and for a URI ferry cannot use yet (`ssh-ng://`, a local or daemon store), an
/// Error saying it is not supported.
std::vector<MachineSpec> parse_machines(std::string_view text, std::string_view local_system,
                                        std::string_view source = "builders");

/// Reads the file an `@FILE` line names: its text, or std::nullopt when it does not exist (it then holds
/// no machines). Throws Error when it cannot be read.
using MachinesFileReader = std::function<std::optional<std::string>(const std::string& path)>;

/// parse_machines reading `@FILE` includes through `read` instead of the file system (the fuzzer's
/// in-memory files).
std::vector<MachineSpec> parse_machines(std::string_view text, std::string_view local_system,
                                        std::string_view source, const MachinesFileReader& read);

/// One line (no `;`, no comment): a MachineSpec. `where` ("SOURCE:LINE") goes into errors.
MachineSpec parse_machine_line(std::string_view line, std::string_view local_system, std::string_view where);

} // namespace ferry
