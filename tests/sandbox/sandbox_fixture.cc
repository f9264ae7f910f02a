#include "sandbox_fixture.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "ferry/store/derivation_hash.hh"
#include "ferry/store/nar_restore.hh"
#include "ferry/util/error.hh"
#include "support/store_support.hh"

namespace fs = std::filesystem;

namespace ferry::test {

FakeStore::FakeStore(const std::string& store_dir) : store_dir_(store_dir) {
    auto bin = real_store_dir() / kBusyboxBase / "bin";
    fs::create_directories(real_store_dir());
    fs::create_directories(scratch());
    fs::create_directories(tmp());
    restore_nar(read_file(busybox_nar()), real_store_dir() / kBusyboxBase);
    // Read-only, like a real store path.
    ::chmod((bin / "busybox").c_str(), 0555);
    ::chmod(bin.c_str(), 0555);
    ::chmod((real_store_dir() / kBusyboxBase).c_str(), 0555);
}

SandboxOptions FakeStore::options() const {
    SandboxOptions options;
    options.build_dir_parent = tmp();
    return options;
}

bool FakeStore::clean() const {
    for (const auto& entry : fs::directory_iterator(scratch()))
        if (!is_staging_lock(entry.path().filename().string())) return false;
    return fs::is_empty(tmp());
}

Derivation FakeStore::shell_derivation(const std::string& name, const std::string& script,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& outputs) const {
    Derivation drv;
    drv.name = name;
    drv.platform = "x86_64-linux";
    drv.builder = busybox_sh();
    drv.args = {"-c", script};
    drv.input_srcs.insert(busybox());
    drv.env = env;
    drv.env["name"] = name;
    drv.env["builder"] = busybox_sh();
    drv.env["system"] = "x86_64-linux";
    for (const auto& out : outputs)
        drv.outputs[out] = {};
    finish(drv, outputs);
    return drv;
}

void FakeStore::finish(Derivation& drv, const std::vector<std::string>& outputs) const {
    if (outputs.size() > 1) {
        std::string list;
        for (const auto& out : outputs)
            list += (list.empty() ? "" : " ") + out;
        drv.env["outputs"] = list;
    }
    DerivationHasher hasher(store_dir_, [](const StorePath& p) -> Derivation {
        throw Error("no input derivation '{}' in the fake store", p.to_string());
    });
    hasher.fill_outputs(drv);
}

Derivation FakeStore::fixed_output_derivation(const std::string& name, const std::string& script,
                                              const std::string& content) const {
    auto hash = hash_string(HashAlgo::sha256, content).to_base16();
    auto drv = shell_derivation(
        name, script, {{"outputHashMode", "flat"}, {"outputHashAlgo", "sha256"}, {"outputHash", hash}}, {});
    drv.outputs["out"] = {"", "sha256", hash};
    finish(drv, {"out"});
    return drv;
}

StorePath FakeStore::drv_path(const Derivation& drv) const {
    return derivation_store_path(store_dir_, drv);
}

BuildJob FakeStore::job(const Derivation& drv, std::string* log) const {
    BuildJob job{.drv_path = drv_path(drv), .drv = &drv, .store_dir = store_dir_};
    job.real_store_dir = real_store_dir();
    job.scratch_parent = scratch();
    for (const auto& [name, out] : drv.outputs)
        job.outputs.emplace(name, store_dir_.parse(out.path));
    job.input_closure = {busybox()};
    job.env.cores = 1;
    job.timeout = 60;
    if (log) job.log = [log](std::string_view chunk) { log->append(chunk); };
    return job;
}

HostListener::HostListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    check_sys(fd_.get(), "creating a socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check_sys(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "binding to 127.0.0.1");
    check_sys(::listen(fd_.get(), 16), "listening");
    check_sys(::fcntl(fd_.get(), F_SETFL, O_NONBLOCK), "making the listener non-blocking");
    socklen_t len = sizeof addr;
    check_sys(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
    port_ = ntohs(addr.sin_port);
}

std::optional<std::string> HostListener::accept_now() {
    UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) return std::nullopt;
    std::string data;
    char buf[4096];
    pollfd pfd{conn.get(), POLLIN, 0};
    while (::poll(&pfd, 1, 1000) > 0) {
        ssize_t n = ::read(conn.get(), buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, size_t(n));
    }
    return data;
}

std::future<std::string> HostListener::serve_once(int seconds) {
    return std::async(std::launch::async, [this, seconds] {
        pollfd pfd{fd_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, seconds * 1000) <= 0) return std::string();
        return accept_now().value_or("");
    });
}

BuildJob store_job(const LocalStore& store, const StorePath& drv_path, const Derivation& drv,
                   StorePathSet closure, const fs::path& scratch) {
    BuildJob job{.drv_path = drv_path, .drv = &drv, .store_dir = store.store_dir()};
    job.real_store_dir = store.config().real_store_dir();
    job.scratch_parent = scratch;
    for (const auto& [name, _] : drv.outputs)
        job.outputs.emplace(name, drv.output_path(store.store_dir(), name));
    job.input_closure = std::move(closure);
    job.env.cores = 1;
    job.timeout = 60;
    return job;
}

std::unique_ptr<BuiltOutputs> run_build(Builder& builder, BuildJob& job) {
    boost::asio::io_context io;
    std::unique_ptr<BuiltOutputs> result;
    std::exception_ptr error;
    boost::asio::co_spawn(io, builder.build(job), [&](std::exception_ptr e, std::unique_ptr<BuiltOutputs> r) {
        error = e;
        result = std::move(r);
    });
    io.run();
    if (error) std::rethrow_exception(error);
    return result;
}

bool run_retrying(const std::string& command) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        if (std::system((command + " >/dev/null 2>&1").c_str()) == 0) return true;
        ::usleep(200000);
    }
    return false;
}

TestBuildUsers::TestBuildUsers(int members) : group_("ferry-t" + std::to_string(::getpid())) {
    if (!run_retrying("groupadd --system " + group_)) throw Error("cannot create group '{}'", group_);
    const struct group* gr = ::getgrnam(group_.c_str());
    if (!gr) throw Error("group '{}' missing after groupadd", group_);
    gid_ = gr->gr_gid;
    for (int i = 0; i < members; ++i) {
        auto name = group_ + "-" + std::to_string(i);
        if (!run_retrying("useradd --system --no-create-home --shell /usr/sbin/nologin -g " + group_ +
                          " -G " + group_ + " " + name))
            throw Error("cannot create user '{}'", name);
        users_.push_back(name);
        uids_.push_back(::getpwnam(name.c_str())->pw_uid);
    }
}

TestBuildUsers::~TestBuildUsers() {
    for (const auto& user : users_)
        run_retrying("userdel " + user);
    run_retrying("groupdel " + group_);
}

BuildUserOptions TestBuildUsers::options(bool auto_allocate) const {
    BuildUserOptions options;
    options.auto_allocate = auto_allocate;
    options.group = group_;
    return options;
}

std::vector<pid_t> processes_with_argument(const std::string& needle) {
    std::vector<pid_t> found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline;
        try {
            cmdline = read_file(entry.path() / "cmdline");
        } catch (const Error&) {
            continue; // the process has gone
        }
        size_t pos = 0;
        while (pos < cmdline.size()) {
            auto end = cmdline.find('\0', pos);
            if (end == std::string::npos) end = cmdline.size();
            if (cmdline.compare(pos, end - pos, needle) == 0) found.push_back(pid_t(std::stoi(name)));
            pos = end + 1;
        }
    }
    return found;
}

} // namespace ferry::test
