// SshMachine: a RemoteMachine over ssh and the serve protocol, with a pool of kept-open connections.

#include "ferry/remote/ssh_machine.hh"

#include <signal.h>

#include <chrono>

#include <boost/asio/use_awaitable.hpp>

#include "ferry/remote/serve_connection.hh"
#include "ferry/util/encoding.hh"
#include "ferry/util/event.hh"
#include "ferry/util/events.hh"
#include "ferry/util/file.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

class SshMachine final : public RemoteMachine {
public:
    SshMachine(asio::any_io_executor ex, asio::thread_pool& pool, MachineSpec spec, SshOptions options)
        : ex_(ex), pool_(pool), spec_(std::move(spec)), options_(std::move(options)),
          uri_(parse_ssh_uri(spec_.uri)), slots_(ex, std::max(1u, spec_.max_jobs)) {
        std::string known_hosts;
        if (!spec_.public_host_key.empty()) {
            auto key = base64_decode(spec_.public_host_key);
            std::string host = uri_.port.empty() ? uri_.hostname : "[" + uri_.hostname + "]:" + uri_.port;
            tmp_.emplace(std::filesystem::temp_directory_path(), "ferry-ssh");
            known_hosts = (tmp_->path() / "known_hosts").string();
            write_file_atomic(known_hosts, host + " " + std::string(key.begin(), key.end()) + "\n");
        }
        argv_ = ssh_command(spec_, uri_, options_, known_hosts);
    }

    const MachineSpec& spec() const override { return spec_; }

    asio::awaitable<StorePathSet> query_valid(StorePathSet paths, bool substitute) override {
        auto lease = co_await acquire();
        auto& conn = *lease.conn;
        serve::Request request = serve::QueryValidPaths{false, substitute, std::move(paths)};
        std::string bytes = serve::encode_request(dir(), conn.remote_version(), request);
        co_await conn.send(std::move(bytes));
        auto valid =
            co_await conn.receive([&](std::string_view d) { return serve::decode_path_set(dir(), d); });
        co_return valid;
    }

    asio::awaitable<void> upload(StoreView& store, std::vector<ValidPathInfo> paths) override {
        auto lease = co_await acquire();
        auto& conn = *lease.conn;
        auto real = store.layout().real_store_dir;
        // With AddToStoreNar, all of them sent, then their statuses read: one round trip for the batch.
        // (An ImportPaths stream ends with its path: one round trip each.)
        bool pipelined = serve::minor_version(conn.remote_version()) >= 5;
        for (size_t sent = 0, answered = 0; answered < paths.size();) {
            if (sent < paths.size() && (pipelined || sent == answered)) {
                co_await send_path(conn, real / paths[sent].path.to_string(), paths[sent]);
                ++sent;
                continue;
            }
            auto status =
                co_await conn.receive([](std::string_view d) { return serve::decode_u64(d, "status"); });
            if (status != 1)
                conn.fail(fmt::format("failed to add path '{}'", dir().print(paths[answered].path)));
            ++answered;
        }
    }

    asio::awaitable<std::vector<StagedTree>> build(const BuildJob& job, StoreView& store) override;

private:
    /// A connection taken from the pool with its slot; back into the pool when released, if still good.
    struct Lease {
        SshMachine* machine = nullptr;
        Semaphore::Slot slot;
        std::shared_ptr<ServeConnection> conn;
        Lease(SshMachine* m, Semaphore::Slot s, std::shared_ptr<ServeConnection> c)
            : machine(m), slot(std::move(s)), conn(std::move(c)) {
            conn->start_reading();
        }
        Lease(Lease&&) = default;
        ~Lease() {
            if (conn && conn->good()) {
                conn->set_log(nullptr);
                conn->stop_reading();
                machine->idle_.push_back(std::move(conn));
            }
        }
    };

    const StoreDir& dir() const { return options_.store_dir; }

    asio::awaitable<Lease> acquire() {
        auto slot = co_await slots_.acquire();
        while (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            // Its ssh ended while it was kept (the session went away): not the machine's failure.
            if (!conn->exited()) co_return Lease(this, std::move(slot), std::move(conn));
        }
        std::vector<std::string> argv = argv_;
        std::string host = uri_.host;
        auto conn = co_await ServeConnection::open(ex_, std::move(argv), std::move(host));
        co_return Lease(this, std::move(slot), std::move(conn));
    }

    /// Sends `info`'s path (AddToStoreNar, or ImportPaths to older peers); its status is read later.
    asio::awaitable<void> send_path(ServeConnection& conn, const std::filesystem::path& file,
                                    const ValidPathInfo& info);
    /// Reads the NAR of `info` (asked for already) into a staged path, checked against `info`.
    asio::awaitable<StagedTree> fetch_output(ServeConnection& conn, StoreView& store,
                                             const ValidPathInfo& info);

    asio::any_io_executor ex_;
    asio::thread_pool& pool_;
    MachineSpec spec_;
    SshOptions options_;
    SshUri uri_;
    std::optional<TempDir> tmp_;
    std::vector<std::string> argv_;
    Semaphore slots_;
    std::vector<std::shared_ptr<ServeConnection>> idle_;
};

asio::awaitable<void> SshMachine::send_path(ServeConnection& conn, const std::filesystem::path& file,
                                            const ValidPathInfo& info) {
    bool nar_command = serve::minor_version(conn.remote_version()) >= 5;
    std::string header = nar_command
                             ? serve::encode_request(dir(), conn.remote_version(), serve::AddToStoreNar{info})
                             : serve::encode_request(dir(), conn.remote_version(), serve::ImportPaths{}) +
                                   serve::encode_u64(1);
    co_await conn.send(std::move(header));
    uint64_t sent = 0;
    co_await run_on(pool_.get_executor(), [&] {
        dump_path(file, [&](std::string_view chunk) {
            conn.write_blocking(chunk);
            sent += chunk.size();
        });
    });
    if (sent != info.nar_size) {
        conn.mark_bad(); // the machine expects other bytes than those it got
        throw Error("cannot upload '{}' to '{}': its NAR has {} bytes, not the {} its info says",
                    dir().print(info.path), uri_.host, sent, info.nar_size);
    }
    if (!nar_command) {
        std::string trailer = serve::encode_import_trailer(dir(), info);
        co_await conn.send(std::move(trailer));
    }
}

asio::awaitable<std::vector<StagedTree>> SshMachine::build(const BuildJob& job, StoreView& store) {
    auto lease = co_await acquire();
    auto& conn = *lease.conn;
    unsigned version = conn.remote_version();
    serve::BuildDerivation request{job.drv_path, *job.drv, {}};
    request.drv.input_drvs.clear();
    request.drv.input_srcs = job.input_closure; // as Nix's build hook sends it
    request.options = {job.max_silent_time, job.timeout, job.max_log_size, 0, false, job.keep_failed};
    conn.set_log(job.log);
    std::string bytes = serve::encode_request(dir(), version, request);
    auto sent = std::chrono::steady_clock::now();
    co_await conn.send(std::move(bytes));
    auto result =
        co_await conn.receive([&](std::string_view d) { return serve::decode_build_result(version, d); });
    auto answered = std::chrono::steady_clock::now();
    if (!serve::is_success(result.status)) {
        conn.flush_log();
        throw BuildError("build of '{}' on '{}' failed: {} ({})", dir().print(job.drv_path), uri_.host,
                         result.error_msg, serve::to_string(result.status));
    }
    // The outputs' infos and their NARs asked for at once: one round trip for all of them.
    StorePathSet outputs;
    for (const auto& [name, path] : job.outputs)
        outputs.insert(path);
    bytes = serve::encode_request(dir(), version, serve::QueryPathInfos{outputs});
    for (const auto& path : outputs)
        bytes += serve::encode_request(dir(), version, serve::DumpStorePath{path});
    co_await conn.send(std::move(bytes));
    auto infos = co_await conn.receive(
        [&](std::string_view d) { return serve::decode_path_infos(dir(), version, d); });
    std::vector<StagedTree> staged;
    for (const auto& path : outputs) {
        auto it = std::find_if(infos.begin(), infos.end(), [&](const auto& i) { return i.path == path; });
        if (it == infos.end()) {
            conn.mark_bad(); // its answer to the NAR requests is an error
            throw BuildError("build of '{}' on '{}' succeeded but the machine has no output '{}'",
                             dir().print(job.drv_path), uri_.host, dir().print(path));
        }
        auto tree = co_await fetch_output(conn, store, *it);
        staged.push_back(std::move(tree));
    }
    conn.flush_log(); // the build's last lines, come through the other pipe meanwhile
    conn.set_log(nullptr);
    using Ms = std::chrono::duration<double, std::milli>;
    log_debug("BuildDerivation of '{}' on '{}': answered in {:.2f} ms, outputs back in {:.2f} ms",
              dir().print(job.drv_path), uri_.host, Ms(answered - sent).count(),
              Ms(std::chrono::steady_clock::now() - answered).count());
    co_return staged;
}

asio::awaitable<StagedTree> SshMachine::fetch_output(ServeConnection& conn, StoreView& store,
                                                     const ValidPathInfo& info) {
    if (info.nar_hash == Hash())
        conn.fail(fmt::format("no NAR hash for '{}' (protocol older than 2.4)", dir().print(info.path)));
    std::unique_ptr<StagedPath> staged;
    NarHashResult got;
    co_await conn.await_input();
    co_await run_on(pool_.get_executor(), [&] {
        staged = store.stage(info.path.name());
        NarRestorer restorer(staged->path());
        HashingNarParser parser(restorer, HashAlgo::sha256);
        try {
            conn.read_nar_blocking(parser);
            got = parser.finish();
        } catch (const MachineDown&) {
            throw;
        } catch (const Error& e) {
            throw MachineDown("machine '{}': the NAR of '{}' is corrupt: {}", uri_.host,
                              dir().print(info.path), e.what());
        }
        if (got.hash != info.nar_hash || got.nar_size != info.nar_size) return; // removed by the restorer
        restorer.commit();
    });
    if (got.hash != info.nar_hash || got.nar_size != info.nar_size) {
        conn.mark_bad();
        co_await run_on(pool_.get_executor(), [&] { staged.reset(); });
        throw MachineDown(
            "machine '{}' sent '{}' with NAR hash {} and size {}, not the {} and {} it reported", uri_.host,
            dir().print(info.path), got.hash.to_nix32_prefixed(), got.nar_size,
            info.nar_hash.to_nix32_prefixed(), info.nar_size);
    }
    ValidPathInfo valid = info;
    valid.ultimate = false;
    valid.registration_time = 0;
    co_return StagedTree{std::move(staged), std::move(valid)};
}

} // namespace

std::unique_ptr<RemoteMachine> make_ssh_machine(asio::any_io_executor ex, asio::thread_pool& pool,
                                                MachineSpec spec, SshOptions options) {
    ::signal(SIGPIPE, SIG_IGN);
    return std::make_unique<SshMachine>(ex, pool, std::move(spec), std::move(options));
}

} // namespace ferry
