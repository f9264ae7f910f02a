#pragma once
/// What the remote tests share: a local store holding the compat fixture's inputs (busybox, plain.txt),
/// an event loop and a pool, the commands that serve a store over ssh (Debian's nix-store, ferry), and
/// build jobs of the compat derivations.

#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/remote/ssh_machine.hh"
#include "ferry/sched/local_store_view.hh"
#include "sshd.hh"
#include "support/store_support.hh"

namespace ferry::test {

inline constexpr std::string_view kBusyboxPath = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";
inline constexpr std::string_view kPlainPath = "/nix/store/avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt";

/// A derivation and the job that builds it (the job points into it).
struct TestJob {
    explicit TestJob(StorePath drv_path) : job{.drv_path = std::move(drv_path)} {}
    Derivation drv;
    BuildJob job;
    std::string log;
};

class RemoteFixture : public ::testing::Test {
protected:
    RemoteFixture();
    ~RemoteFixture() override;

    /// Runs `aw` on the loop until it is done; rethrows what it throws.
    template <typename T> T run(boost::asio::awaitable<T> aw) {
        auto fut = boost::asio::co_spawn(io_, std::move(aw), boost::asio::use_future);
        io_.restart();
        while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
            io_.run_one();
        return fut.get();
    }

    /// The shell command that serves a fresh store under work/`name` with Debian's nix-store.
    std::string nix_serve_command(const std::string& name) const;
    /// The same with the built ferry.
    std::string ferry_serve_command(const std::string& name) const;
    /// The physical store root a serve command of `name` uses.
    std::filesystem::path remote_root(const std::string& name) const { return work_.path() / name; }

    MachineSpec spec_for(const SshServer& sshd, unsigned max_jobs = 1) const;
    std::unique_ptr<RemoteMachine> machine(MachineSpec spec, std::string ssh_program = "ssh");

    /// path-info.json's entry for `path`.
    nlohmann::json fixture_info(std::string_view path) const;
    ValidPathInfo local_info(std::string_view path);
    /// The compat derivation `<base>.drv` as a job with its input sources as the closure.
    std::unique_ptr<TestJob> compat_job(const std::string& drv_base);
    /// A derivation of our own (busybox `sh -c script`), written to the local store, as a job.
    std::unique_ptr<TestJob> script_job(const std::string& name, const std::string& script);

    TempDir work_;
    TempStore local_;
    boost::asio::io_context io_;
    boost::asio::thread_pool pool_{2};
    std::unique_ptr<LocalStoreView> view_;
    StoreDir dir_;
};

} // namespace ferry::test
