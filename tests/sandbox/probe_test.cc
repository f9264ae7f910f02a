// The probe: a real build in real namespaces whose builder (busybox sh, tests/data/sandbox/probe.sh)
// writes what it sees into $out; each test asserts one part of it against what Nix 2.8's sandbox shows.
#include <grp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_builder.hh"
#include "sandbox_fixture.hh"
#include "support/fixtures.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kLoPort = "4242";

/// One probe build, shared by the tests of this suite (it takes ~0.2 s).
class Probe : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        store_ = new FakeStore;
        listener_ = new HostListener;
        drv_ = new Derivation(probe_derivation(*store_, "probe", listener_->port()));
        auto job = store_->job(*drv_, &log_);
        SandboxBuilder builder;
        outputs_ = run_build(builder, job).release();
    }
    static void TearDownTestSuite() {
        delete outputs_;
        delete drv_;
        delete listener_;
        delete store_;
    }

    static Derivation probe_derivation(const FakeStore& store, const std::string& name, uint16_t host_port) {
        auto script = read_file(test_data_dir() / "sandbox/probe.sh");
        return store.shell_derivation(name, script,
                                      {{"hostPort", std::to_string(host_port)}, {"loPort", kLoPort}});
    }

    static std::string fact(const std::string& name) {
        return read_file(fs::path(outputs_->locations.at("out")) / name);
    }

    static FakeStore* store_;
    static HostListener* listener_;
    static Derivation* drv_;
    static BuiltOutputs* outputs_;
    static std::string log_;
};

FakeStore* Probe::store_ = nullptr;
HostListener* Probe::listener_ = nullptr;
Derivation* Probe::drv_ = nullptr;
BuiltOutputs* Probe::outputs_ = nullptr;
std::string Probe::log_;

} // namespace

TEST_F(Probe, EnvironmentIsExactlyNixs) {
    // Nix's initEnv for this derivation, written out independently of make_build_environment.
    std::string out = drv_->outputs.at("out").path;
    std::string expected = "HOME=/homeless-shelter\n"
                           "NIX_BUILD_CORES=1\n"
                           "NIX_BUILD_TOP=/build\n"
                           "NIX_LOG_FD=2\n"
                           "NIX_STORE=/nix/store\n"
                           "PATH=/path-not-set\n"
                           "PWD=/build\n"
                           "TEMP=/build\n"
                           "TEMPDIR=/build\n"
                           "TERM=xterm-256color\n"
                           "TMP=/build\n"
                           "TMPDIR=/build\n"
                           "builder=" +
                           std::string(kBusyboxSh) + "\nhostPort=" + std::to_string(listener_->port()) +
                           "\nloPort=4242\nname=probe\nout=" + out + "\nsystem=x86_64-linux\n";
    EXPECT_EQ(fact("environ"), expected);
}

TEST_F(Probe, EtcFilesAreNixs) {
    EXPECT_EQ(fact("passwd"), "root:x:0:0:Nix build user:/build:/noshell\n"
                              "nixbld:x:1000:100:Nix build user:/build:/noshell\n"
                              "nobody:x:65534:65534:Nobody:/:/noshell\n");
    EXPECT_EQ(fact("group"), "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n");
    EXPECT_EQ(fact("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
}

TEST_F(Probe, HostAndDomainName) {
    EXPECT_EQ(fact("hostname"), "localhost\n");
    EXPECT_EQ(fact("domainname"), "(none)\n");
}

TEST_F(Probe, BuilderIsNixbldAsPid1) {
    // As root, Nix drops supplementary groups before its clone; an unprivileged caller's groups would
    // show up mapped (as Nix shows them too), so the full line is only fixed without any.
    if (::getgroups(0, nullptr) == 0 || ::geteuid() == 0)
        EXPECT_EQ(fact("id"), "uid=1000(nixbld) gid=100(nixbld)\n");
    else
        EXPECT_EQ(fact("id").rfind("uid=1000(nixbld) gid=100(nixbld)", 0), 0u) << fact("id");
    EXPECT_EQ(fact("pid"), "1\n");
    EXPECT_EQ(fact("proc-pids"), "1\n") << "only the builder's own processes are in /proc";
    EXPECT_EQ(fact("pwd"), "/build\n");
}

TEST_F(Probe, FileSystemLayout) {
    EXPECT_EQ(fact("root-listing"), ".\n..\nbuild\ndev\netc\nnix\nproc\ntmp\n");
    std::string dev = ".\n..\nfd\nfull\n";
    if (::access("/dev/kvm", R_OK | W_OK) == 0) dev += "kvm\n";
    dev += "null\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n";
    EXPECT_EQ(fact("dev-listing"), dev);
    std::vector<std::string> store_names{fs::path(drv_->outputs.at("out").path).filename().string(),
                                         kBusyboxBase};
    std::sort(store_names.begin(), store_names.end());
    EXPECT_EQ(fact("store-listing"), ".\n..\n" + store_names[0] + "\n" + store_names[1] + "\n");
    if (::geteuid() == 0)
        // As Nix's with build users: ferry's files are unmapped (nobody), the root and the store dir are
        // in the build's group, the build directory is the builder's.
        EXPECT_EQ(fact("modes"), "/ 750 65534 100\n/tmp 1777 65534 65534\n/build 700 1000 100\n"
                                 "/nix 755 65534 65534\n/nix/store 1775 65534 100\n/etc 755 65534 65534\n"
                                 "/etc/passwd 644 65534 65534\n/etc/group 644 65534 65534\n"
                                 "/etc/hosts 644 65534 65534\n");
    else
        // The caller is the builder: everything is its own.
        EXPECT_EQ(fact("modes"),
                  "/ 750 1000 100\n/tmp 1777 1000 100\n/build 700 1000 100\n/nix 755 1000 100\n"
                  "/nix/store 1775 1000 100\n/etc 755 1000 100\n/etc/passwd 644 1000 100\n"
                  "/etc/group 644 1000 100\n/etc/hosts 644 1000 100\n");
    EXPECT_EQ(fact("build-listing"), ".\n..\n");
}

TEST_F(Probe, NoHostFileOutsideTheInputs) {
    EXPECT_EQ(fact("host-files"), "/etc/shadow absent\n/root absent\n/usr absent\n/bin absent\n/var absent\n"
                                  "/home absent\n/sys absent\n");
}

TEST_F(Probe, InputsAreReadOnly) {
    auto text = fact("write-input");
    EXPECT_NE(text.find("Read-only file system"), std::string::npos) << text;
    EXPECT_NE(text.find("exit 1"), std::string::npos) << text;
    EXPECT_FALSE(fs::exists(store_->real_store_dir() / kBusyboxBase / "new"));
}

#ifdef FERRY_HAVE_SECCOMP
TEST_F(Probe, SetuidBitsAreRefusedBySeccomp) {
    auto text = fact("setuid");
    EXPECT_NE(text.find("Operation not permitted"), std::string::npos) << text;
    EXPECT_NE(text.find("exit 1"), std::string::npos) << text;
}
#endif

TEST_F(Probe, NoRouteToTheHostsLoopback) {
    EXPECT_NE(fact("connect-host"), "exit 0\n");
    EXPECT_FALSE(listener_->accept_now().has_value()) << "the builder reached the host's 127.0.0.1";
}

TEST_F(Probe, LoopbackIsUpInside) {
    EXPECT_EQ(fact("loopback"), "ping\n");
    EXPECT_NE(log_.find("done"), std::string::npos) << log_;
}

TEST_F(Probe, TwoConcurrentBuildsListenOnTheSamePort) {
    FakeStore store;
    HostListener listener;
    auto a = probe_derivation(store, "probe-a", listener.port());
    auto b = probe_derivation(store, "probe-b", listener.port());
    auto job_a = store.job(a);
    auto job_b = store.job(b);
    SandboxBuilder builder;
    boost::asio::io_context io;
    std::unique_ptr<BuiltOutputs> out_a, out_b;
    std::exception_ptr error_a, error_b;
    boost::asio::co_spawn(io, builder.build(job_a),
                          [&](std::exception_ptr e, std::unique_ptr<BuiltOutputs> r) {
                              error_a = e;
                              out_a = std::move(r);
                          });
    boost::asio::co_spawn(io, builder.build(job_b),
                          [&](std::exception_ptr e, std::unique_ptr<BuiltOutputs> r) {
                              error_b = e;
                              out_b = std::move(r);
                          });
    io.run();
    ASSERT_FALSE(error_a);
    ASSERT_FALSE(error_b);
    EXPECT_EQ(read_file(fs::path(out_a->locations.at("out")) / "loopback"), "ping\n");
    EXPECT_EQ(read_file(fs::path(out_b->locations.at("out")) / "loopback"), "ping\n");
}
