#pragma once
/// Nix's serve protocol (`nix-store --serve`, version 2.7 as Nix 2.4–2.8 speak it), I/O-free: the
/// messages of both sides encoded into strings and decoded from the bytes received so far (a decoder
/// returns std::nullopt while they are not enough; the shell reads more and calls it again). The shells
/// are remote/serve_connection.hh (the client over ssh) and remote/serve_server.hh (`ferry serve`).
///
/// The handshake: the client sends kMagic1 and its version; the server answers kMagic2 and its version,
/// then reads the client's. Each side then gates fields on the other's minor version: max-log-size from
/// 2.2; repeats, enforce-determinism and the BuildResult's times from 2.3; the NAR hash, content address
/// and signatures of QueryPathInfos from 2.4; AddToStoreNar from 2.5; builtOutputs from 2.6; keep-failed
/// from 2.7. The NAR that follows DumpStorePath, ImportPaths and AddToStoreNar is not part of these
/// messages: it is streamed by the shell.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ferry/remote/wire.hh"
#include "ferry/store/derivation.hh"
#include "ferry/store/path_info.hh"

namespace ferry::serve {

inline constexpr uint64_t kMagic1 = 0x390c9deb; ///< client → server
inline constexpr uint64_t kMagic2 = 0x5452eecb; ///< server → client
inline constexpr unsigned kVersion = 0x207;     ///< 2.7
/// The oldest server version the client talks to.
inline constexpr unsigned kMinServerVersion = 0x202;
/// The export format's record magic ("NIXE"), used by ImportPaths.
inline constexpr uint64_t kExportMagic = 0x4558494e;

constexpr unsigned major_version(uint64_t v) {
    return static_cast<unsigned>(v & 0xff00);
}
constexpr unsigned minor_version(uint64_t v) {
    return static_cast<unsigned>(v & 0x00ff);
}
/// "2.7".
std::string version_string(uint64_t v);

enum class Command : uint64_t {
    query_valid_paths = 1,
    query_path_infos = 2,
    dump_store_path = 3,
    import_paths = 4,
    export_paths = 5,
    build_paths = 6,
    query_closure = 7,
    build_derivation = 8,
    add_to_store_nar = 9,
};

/// Nix's BuildResult::Status (2.8).
enum class BuildStatus : uint64_t {
    built = 0,
    substituted,
    already_valid,
    permanent_failure,
    input_rejected,
    output_rejected,
    transient_failure,
    cached_failure,
    timed_out,
    misc_failure,
    dependency_failed,
    log_limit_exceeded,
    not_deterministic,
    resolves_to_already_valid,
};
std::string_view to_string(BuildStatus status);
constexpr bool is_success(BuildStatus s) {
    return s == BuildStatus::built || s == BuildStatus::substituted || s == BuildStatus::already_valid ||
           s == BuildStatus::resolves_to_already_valid;
}

/// The settings a build request carries (Nix's getBuildSettings).
struct BuildOptions {
    uint64_t max_silent_time = 0;
    uint64_t build_timeout = 0;
    uint64_t max_log_size = 0;        ///< ≥ 2.2
    uint64_t nr_repeats = 0;          ///< ≥ 2.3
    bool enforce_determinism = false; ///< ≥ 2.3
    bool keep_failed = false;         ///< ≥ 2.7
    friend bool operator==(const BuildOptions&, const BuildOptions&) = default;
};

struct BuildResult {
    BuildStatus status = BuildStatus::misc_failure;
    std::string error_msg;
    uint64_t times_built = 0;          ///< ≥ 2.3
    bool is_non_deterministic = false; ///< ≥ 2.3
    uint64_t start_time = 0;           ///< ≥ 2.3
    uint64_t stop_time = 0;            ///< ≥ 2.3
    /// DrvOutput ("sha256:<hash>!out") → its Realisation as JSON; ≥ 2.6.
    std::map<std::string, std::string> built_outputs;
    friend bool operator==(const BuildResult&, const BuildResult&) = default;
};

/// A decoded message and the number of bytes it took.
template <typename T> struct Decoded {
    T value;
    size_t used;
};

// --- Handshake ------------------------------------------------------------------------------------------

std::string encode_client_hello(unsigned version = kVersion);
/// The server's magic and version. Throws ProtocolError for a wrong magic (naming what came instead).
std::optional<Decoded<unsigned>> decode_server_hello(std::string_view data);
/// Throws ProtocolError unless `version` is 2.x with x ≥ kMinServerVersion's.
void check_server_version(uint64_t version);
/// The server reads the client's magic (ProtocolError "protocol mismatch" when wrong) …
std::optional<size_t> decode_client_magic(std::string_view data);
std::string encode_server_hello(unsigned version = kVersion);
/// … and then its version.
std::optional<Decoded<unsigned>> decode_client_version(std::string_view data);

// --- Requests (client → server) -------------------------------------------------------------------------

struct QueryValidPaths {
    bool lock = false;
    bool substitute = false;
    StorePathSet paths;
};
struct QueryPathInfos {
    StorePathSet paths;
};
struct DumpStorePath {
    StorePath path;
};
/// An export stream (store/export_stream.hh) follows.
struct ImportPaths {};
struct ExportPaths {
    StorePathSet paths;
};
struct BuildPaths {
    std::vector<std::string> paths; ///< "<drv>!out,dev" or plain paths
    BuildOptions options;
};
struct QueryClosure {
    bool include_outputs = false;
    StorePathSet paths;
};
struct BuildDerivation {
    StorePath drv_path;
    /// The basic derivation: no input derivations, its input sources the whole input closure.
    Derivation drv;
    BuildOptions options;
};
/// `info.nar_size` bytes of NAR follow.
struct AddToStoreNar {
    ValidPathInfo info;
};
using Request = std::variant<QueryValidPaths, QueryPathInfos, DumpStorePath, ImportPaths, ExportPaths,
                             BuildPaths, QueryClosure, BuildDerivation, AddToStoreNar>;

std::string encode_request(const StoreDir& dir, unsigned server_version, const Request& request);
/// The next request; ProtocolError for an unknown command or a malformed field.
std::optional<Decoded<Request>> decode_request(const StoreDir& dir, unsigned client_version,
                                               std::string_view data);

/// The record that follows a path's NAR in ImportPaths (magic, path, references, deriver, no signature)
/// and the end of the stream.
std::string encode_import_trailer(const StoreDir& dir, const ValidPathInfo& info);

// --- Replies (server → client) --------------------------------------------------------------------------

std::string encode_path_set(const StoreDir& dir, const StorePathSet& paths);
std::optional<Decoded<StorePathSet>> decode_path_set(const StoreDir& dir, std::string_view data);
/// QueryPathInfos: each known path's info, then "".
std::string encode_path_infos(const StoreDir& dir, unsigned client_version,
                              const std::vector<ValidPathInfo>& infos);
/// Infos sent by a server older than 2.4 have no NAR hash (a default Hash).
std::optional<Decoded<std::vector<ValidPathInfo>>>
decode_path_infos(const StoreDir& dir, unsigned server_version, std::string_view data);
std::string encode_u64(uint64_t value);
std::optional<Decoded<uint64_t>> decode_u64(std::string_view data, std::string_view what);
/// BuildPaths' reply: 0, or a status and a message.
std::string encode_build_paths_result(BuildStatus status, std::string_view message);
std::string encode_build_result(unsigned client_version, const BuildResult& result);
std::optional<Decoded<BuildResult>> decode_build_result(unsigned server_version, std::string_view data);

// --- Parts, for tests and the shells ------------------------------------------------------------------

/// `ca` when it parses as a content address (store/content_address.hh); ProtocolError with Nix's message
/// otherwise.
std::string checked_content_address(std::string ca);
void write_basic_derivation(WireWriter& w, const StoreDir& dir, const Derivation& drv);
Derivation read_basic_derivation(WireCursor& c, const StoreDir& dir, std::string name);
void write_build_options(WireWriter& w, unsigned version, const BuildOptions& options);
BuildOptions read_build_options(WireCursor& c, unsigned version);

} // namespace ferry::serve
