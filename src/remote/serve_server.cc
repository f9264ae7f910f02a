// `ferry serve`: the serve protocol's server loop over a local store (facts from Nix 2.8's nix-store.cc
// opServe).

#include "ferry/remote/serve_server.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "ferry/remote/serve_protocol.hh"
#include "ferry/remote/serve_stream.hh"
#include "ferry/remote/server_build.hh"
#include "ferry/store/content_address.hh"
#include "ferry/store/export_stream.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace ferry {

namespace {

/// Input that can hang up (a pipe, ssh's socket); a regular file only ends.
bool is_pipe_or_socket(int fd) {
    struct stat st;
    return ::fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

UniqueFd dup_fd(int fd) {
    return UniqueFd(check_sys(::fcntl(fd, F_DUPFD_CLOEXEC, 3), "dup"));
}

class Session {
public:
    Session(asio::any_io_executor ex, asio::thread_pool& pool, LocalStoreView& store, Builder& builder,
            int in_fd, int out_fd, int log_fd, ServeServerOptions options)
        : pool_(pool), store_(store), builder_(builder), stream_(ex, dup_fd(in_fd), dup_fd(out_fd)),
          monitor_hangup_(is_pipe_or_socket(in_fd)), log_fd_(log_fd), options_(options) {}

    asio::awaitable<void> run() {
        co_await stream_.receive([](std::string_view d) -> std::optional<serve::Decoded<int>> {
            try {
                auto used = serve::decode_client_magic(d);
                if (!used) return std::nullopt;
                return serve::Decoded<int>{0, *used};
            } catch (const ProtocolError&) {
                throw Error("protocol mismatch"); // as nix-store says
            }
        });
        std::string hello = serve::encode_server_hello();
        co_await stream_.send(std::move(hello));
        client_version_ =
            co_await stream_.receive([](std::string_view d) { return serve::decode_client_version(d); });
        for (;;) {
            bool more = co_await stream_.more();
            if (!more) co_return; // the client closed its end between commands
            auto request = co_await stream_.receive(
                [&](std::string_view d) { return serve::decode_request(dir(), client_version_, d); });
            co_await std::visit([&](auto& r) { return handle(r); }, request);
        }
    }

private:
    const StoreDir& dir() const { return store_.store_dir(); }
    asio::awaitable<void> reply(std::string bytes) { co_await stream_.send(std::move(bytes)); }
    void require_write(const char* what) const {
        if (!options_.write) throw Error("{} is not allowed", what);
    }

    asio::awaitable<void> handle(serve::QueryValidPaths& r) {
        // As nix-store --serve: the lock flag makes the paths temporary roots (the store view makes
        // every path it is asked about one); the substitute flag under --write fetches the missing ones.
        if (r.substitute && options_.write && options_.substitute) {
            auto valid = co_await store_.query_valid(r.paths);
            StorePathSet missing;
            for (const auto& p : r.paths)
                if (!p.is_derivation() && !valid.contains(p)) missing.insert(p);
            if (!missing.empty()) co_await options_.substitute(std::move(missing));
        }
        auto valid = co_await store_.query_valid(std::move(r.paths));
        co_await reply(serve::encode_path_set(dir(), valid));
    }

    asio::awaitable<void> handle(serve::QueryPathInfos& r) {
        std::vector<ValidPathInfo> infos;
        for (const auto& p : r.paths) {
            auto info = co_await store_.path_info(p);
            if (info) infos.push_back(std::move(*info));
        }
        co_await reply(serve::encode_path_infos(dir(), client_version_, infos));
    }

    asio::awaitable<void> handle(serve::DumpStorePath& r) {
        bool valid = co_await store_.is_valid(r.path);
        if (!valid) throw Error("path '{}' is not valid", dir().print(r.path));
        auto file = store_.layout().real_store_dir / r.path.to_string();
        co_await run_on(pool_.get_executor(), [&] {
            dump_path(file, [&](std::string_view chunk) { stream_.write_blocking(chunk); });
        });
    }

    asio::awaitable<void> handle(serve::ImportPaths&) {
        require_write("importing paths");
        auto trees = co_await run_on(pool_.get_executor(), [&] { return read_export_stream(); });
        co_await make_valid(store_, std::move(trees));
        co_await reply(serve::encode_u64(1));
    }

    asio::awaitable<void> handle(serve::AddToStoreNar& r) {
        require_write("importing paths");
        bool valid = co_await store_.is_valid(r.info.path);
        auto tree = co_await run_on(pool_.get_executor(), [&] { return read_nar(r.info, valid); });
        if (tree.staged) {
            std::vector<StagedTree> trees;
            trees.push_back(std::move(tree));
            co_await make_valid(store_, std::move(trees));
        }
        co_await reply(serve::encode_u64(1));
    }

    asio::awaitable<void> handle(serve::ExportPaths& r) {
        auto sorted =
            co_await run_on(pool_.get_executor(), [&] { return store_.store().topo_sort(r.paths); });
        co_await run_on(pool_.get_executor(), [&] { write_export_stream(sorted); });
    }

    asio::awaitable<void> handle(serve::QueryClosure& r) {
        StorePathSet roots = r.paths;
        if (r.include_outputs) {
            co_await run_on(pool_.get_executor(), [&] {
                for (const auto& p : r.paths)
                    if (p.is_derivation())
                        for (const auto& [_, out] : store_.store().query_derivation_outputs(p))
                            if (store_.store().is_valid_path(out)) roots.insert(out);
            });
        }
        auto closure = co_await store_.closure(std::move(roots));
        co_await reply(serve::encode_path_set(dir(), closure));
    }

    asio::awaitable<void> handle(serve::BuildPaths& r) {
        require_write("building paths");
        // As Nix's buildPaths without substitutes: a valid path, or a derivation whose outputs are valid,
        // is done; a valid derivation is built (with the derivations it needs); an invalid path or
        // derivation fails. Nix's messages, and its worker's exit status as the reply's status.
        StorePathSet failed, seen;
        std::optional<PathOutcome> first_error;
        unsigned mask = 0;
        for (const auto& s : r.paths) {
            auto path = parse_path_with_outputs(s);
            auto outcome = co_await build_one(s, path, r.options, seen, mask);
            if (outcome.ok) continue;
            failed.insert(path);
            if (outcome.plain.empty()) continue;
            if (first_error)
                log_error(outcome.plain);
            else
                first_error = std::move(outcome);
        }
        if (failed.empty()) {
            co_await reply(serve::encode_build_paths_result(serve::BuildStatus::built, ""));
            co_return;
        }
        std::string message;
        if (failed.size() == 1 && first_error) {
            message = first_error->coloured;
        } else {
            if (first_error) log_error(first_error->plain);
            std::string shown;
            for (const auto& p : failed)
                shown += (shown.empty() ? "'" : ", '") + dir().print(p) + "'";
            message = fmt::format("build of {} failed", magenta(shown));
        }
        // Nix sends its error as it would print it: "error: " in red, the paths in magenta.
        unsigned status = mask ? (mask | 0x60) : 1;
        co_await reply(serve::encode_build_paths_result(serve::BuildStatus(status),
                                                        "\x1b[31;1merror:\x1b[0m " + message));
    }

    asio::awaitable<void> handle(serve::BuildDerivation& r) {
        require_write("building paths");
        ServerBuild build{store_, builder_, pool_, log_fd_, options_.cores};
        auto result = co_await monitored(build.run(r.drv_path, r.drv, r.options), r.drv_path);
        co_await reply(serve::encode_build_result(client_version_, result));
    }

    /// A BuildPaths path's outcome: done (ok), or failed with a message (with colours for the reply,
    /// plain for the log) or without one (an invalid path: no substituter can make it).
    struct PathOutcome {
        bool ok = true;
        std::string coloured, plain;
    };
    asio::awaitable<PathOutcome> build_one(const std::string& spec, const StorePath& path,
                                           const serve::BuildOptions& options, StorePathSet& seen,
                                           unsigned& mask);
    /// `build`'s result; when the client hangs up first, the build is cancelled (and so killed), as Nix's
    /// MonitorFdHup does, and the session ends.
    asio::awaitable<serve::BuildResult> monitored(asio::awaitable<serve::BuildResult> build,
                                                  const StorePath& drv_path) {
        if (!monitor_hangup_) co_return co_await std::move(build);
        auto outcome = co_await (std::move(build) || stream_.until_end_of_input());
        if (outcome.index() == 1)
            throw Error("the client went away during the build of '{}'", dir().print(drv_path));
        co_return std::get<0>(std::move(outcome));
    }

    asio::awaitable<bool> outputs_valid(const StorePath& drv, const std::string& spec);
    /// The path of "<path>[!<outputs>]"; Nix's error when it is not in the store.
    StorePath parse_path_with_outputs(const std::string& spec) const {
        auto text = spec.substr(0, spec.find('!'));
        auto path = dir().try_parse(text);
        if (!path) throw Error("path '{}' is not in the Nix store", text);
        return *path;
    }
    static std::string magenta(std::string_view s) { return fmt::format("\x1b[35;1m{}\x1b[0m", s); }
    void log_error(std::string_view message) const {
        std::string line = fmt::format("error: {}\n", message);
        (void)!::write(log_fd_, line.data(), line.size());
    }
    std::vector<StagedTree> read_export_stream();
    StagedTree read_nar(const ValidPathInfo& info, bool discard);
    /// Nix's check of a content-addressed path added: its `ca` hash is that of what arrived.
    void check_content_address(const ValidPathInfo& info, const std::filesystem::path& file,
                               const Hash& nar_hash) const;
    void write_export_stream(const std::vector<StorePath>& paths);

    asio::thread_pool& pool_;
    LocalStoreView& store_;
    Builder& builder_;
    ServeStream stream_;
    bool monitor_hangup_;
    int log_fd_;
    ServeServerOptions options_;
    unsigned client_version_ = 0;
};

asio::awaitable<Session::PathOutcome> Session::build_one(const std::string& spec, const StorePath& path,
                                                         const serve::BuildOptions& options,
                                                         StorePathSet& seen, unsigned& mask) {
    bool valid = co_await store_.is_valid(path);
    if (!path.is_derivation()) co_return PathOutcome{valid, "", ""};
    auto printed = dir().print(path);
    if (!valid)
        co_return PathOutcome{false, fmt::format("cannot build missing derivation '{}'", magenta(printed)),
                              fmt::format("cannot build missing derivation '{}'", printed)};
    bool done = co_await outputs_valid(path, spec);
    if (done || !seen.insert(path).second) co_return PathOutcome{done, "", ""};
    ServerBuild build{store_, builder_, pool_, log_fd_, options_.cores};
    auto result = co_await monitored(build.build_path(path, options, seen), path);
    if (serve::is_success(result.status)) co_return PathOutcome{};
    // Nix's worker: 0x04 a build failed, 0x01 one timed out, 0x02 an output's hash did not match.
    if (result.status == serve::BuildStatus::permanent_failure) mask |= 0x04;
    if (result.status == serve::BuildStatus::timed_out) mask |= 0x05;
    if (result.status == serve::BuildStatus::output_rejected) mask |= 0x06;
    co_return PathOutcome{false, result.error_msg, result.error_msg};
}

asio::awaitable<bool> Session::outputs_valid(const StorePath& drv, const std::string& spec) {
    std::map<std::string, StorePath> outputs;
    co_await run_on(pool_.get_executor(), [&] { outputs = store_.store().query_derivation_outputs(drv); });
    auto bang = spec.find('!');
    std::string wanted = bang == std::string::npos ? "" : spec.substr(bang + 1);
    if (outputs.empty()) co_return false;
    for (const auto& [name, path] : outputs) {
        bool listed = wanted.empty() || wanted == "*" ||
                      ("," + wanted + ",").find("," + name + ",") != std::string::npos;
        if (!listed) continue;
        bool valid = co_await store_.is_valid(path);
        if (!valid) co_return false;
    }
    co_return true;
}

StagedTree Session::read_nar(const ValidPathInfo& info, bool discard) {
    StagedTree tree{nullptr, info};
    std::unique_ptr<NarVisitor> visitor;
    NullNarVisitor null;
    std::unique_ptr<NarRestorer> restorer;
    if (!discard) {
        tree.staged = store_.stage(info.path.name());
        restorer = std::make_unique<NarRestorer>(tree.staged->path());
    }
    HashingNarParser parser(discard ? static_cast<NarVisitor&>(null) : *restorer, HashAlgo::sha256);
    stream_.read_exact_blocking(info.nar_size, [&](std::string_view chunk) { parser.feed(chunk); });
    auto got = parser.finish();
    if (got.hash != info.nar_hash || got.nar_size != info.nar_size)
        throw HashMismatch("hash mismatch importing path '{}': specified {}, got {}", dir().print(info.path),
                           info.nar_hash.to_nix32_prefixed(), got.hash.to_nix32_prefixed());
    if (restorer) restorer->commit();
    if (tree.staged && info.ca) check_content_address(info, tree.staged->path(), got.hash);
    return tree;
}

void Session::check_content_address(const ValidPathInfo& info, const std::filesystem::path& file,
                                    const Hash& nar_hash) const {
    auto ca = parse_content_address(*info.ca);
    Hash got = nar_hash;
    if (ca.method == FileIngestionMethod::flat || ca.text) {
        if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(file)))
            throw Error(
                "content address '{}' of '{}' is of a file's contents, but the path is not a regular file",
                *info.ca, dir().print(info.path));
        got = hash_file(ca.hash.algo, file);
    } else if (ca.hash.algo != nar_hash.algo) {
        HashSink sink(ca.hash.algo);
        dump_path(file, [&](std::string_view chunk) { sink.update(chunk); });
        got = sink.finish();
    }
    if (got != ca.hash)
        throw HashMismatch("ca hash mismatch importing path '{}';\n  specified: {}\n  got:       {}",
                           dir().print(info.path), ca.hash.to_nix32_prefixed(), got.to_nix32_prefixed());
}

/// Stages each path of an export stream; the trees, in stream order.
class StagingVisitor final : public ExportVisitor {
public:
    explicit StagingVisitor(LocalStoreView& store) : store_(store) {}
    NarVisitor& begin_path() override {
        staged_ = store_.stage("import");
        restorer_.emplace(staged_->path());
        return *restorer_;
    }
    void end_path(ExportedPath p) override {
        restorer_->commit();
        restorer_.reset();
        StagedTree tree{std::move(staged_), ValidPathInfo(p.path, p.nar.hash, p.nar.nar_size)};
        tree.info.references = std::move(p.references);
        tree.info.deriver = p.deriver;
        trees.push_back(std::move(tree));
    }
    std::vector<StagedTree> trees;

private:
    LocalStoreView& store_;
    std::unique_ptr<StagedPath> staged_;
    std::optional<NarRestorer> restorer_;
};

std::vector<StagedTree> Session::read_export_stream() {
    StagingVisitor visitor(store_);
    ExportParser parser(dir(), visitor);
    // The stream ends at its final 0; what follows (a client that does not wait for our answer) is
    // the next request.
    stream_.read_until_blocking([&](std::string_view chunk) { return parser.consume(chunk); },
                                [&] { return parser.done(); });
    return std::move(visitor.trees);
}

void Session::write_export_stream(const std::vector<StorePath>& paths) {
    auto real = store_.layout().real_store_dir;
    for (const auto& p : paths) {
        auto info = store_.store().require_path_info(p);
        stream_.write_blocking(serve::encode_u64(1));
        dump_path(real / p.to_string(), [&](std::string_view chunk) { stream_.write_blocking(chunk); });
        std::string record;
        WireWriter w(record);
        w.u64(serve::kExportMagic).path(dir(), p).path_set(dir(), info.references);
        w.str(info.deriver ? dir().print(*info.deriver) : "").u64(0);
        stream_.write_blocking(record);
    }
    stream_.write_blocking(serve::encode_u64(0));
}

} // namespace

asio::awaitable<void> serve_store(asio::any_io_executor ex, asio::thread_pool& pool, LocalStoreView& store,
                                  Builder& builder, int in_fd, int out_fd, int log_fd,
                                  ServeServerOptions options) {
    Session session(ex, pool, store, builder, in_fd, out_fd, log_fd, options);
    bool eof = false;
    try {
        co_await session.run();
    } catch (const EndOfInput&) {
        eof = true;
    }
    if (eof) throw Error("unexpected end of input from the client");
}

} // namespace ferry
