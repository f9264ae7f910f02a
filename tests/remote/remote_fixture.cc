#include "remote_fixture.hh"

#include <fcntl.h>

#include "ferry/store/derivation_store.hh"
#include "support/fixtures.hh"

namespace fs = std::filesystem;

namespace ferry::test {

namespace {
void write_nix_conf(const fs::path& dir) {
    fs::create_directories(dir / "etc-nix");
    write_file_atomic(dir / "etc-nix" / "nix.conf",
                      "build-users-group =\nsandbox = true\ncores = 1\nsubstituters =\n"
                      "experimental-features = nix-command\n");
}
} // namespace

RemoteFixture::RemoteFixture() : work_(fs::temp_directory_path(), "ferry-remote") {
    write_nix_conf(work_.path());
    for (auto path : {kBusyboxPath, kPlainPath}) {
        auto entry = fixture_info(path);
        UniqueFd nar(::open(compat_nar(entry).c_str(), O_RDONLY | O_CLOEXEC));
        local_->import_nar(nar.get(), to_path_info(dir_, entry));
    }
    view_ = std::make_unique<LocalStoreView>(*local_.store, pool_);
}

RemoteFixture::~RemoteFixture() {
    pool_.join();
}

std::string RemoteFixture::nix_serve_command(const std::string& name) const {
    return "env NIX_CONF_DIR=" + (work_.path() / "etc-nix").string() +
           " XDG_CACHE_HOME=" + (work_.path() / "cache").string() + " nix-store --serve --write --store " +
           remote_root(name).string();
}

std::string RemoteFixture::ferry_serve_command(const std::string& name) const {
    return "env NIX_CONF_DIR=" + (work_.path() / "etc-nix").string() +
           " XDG_CONFIG_HOME=" + (work_.path() / "config").string() +
           " XDG_CACHE_HOME=" + (work_.path() / "cache").string() + " " +
           (build_root() / "src" / "cli" / "ferry").string() + " serve --write --store " +
           remote_root(name).string();
}

MachineSpec RemoteFixture::spec_for(const SshServer& sshd, unsigned max_jobs) const {
    MachineSpec spec;
    spec.uri = sshd.uri();
    spec.systems = {"x86_64-linux"};
    spec.ssh_key = sshd.user_key().string();
    spec.max_jobs = max_jobs;
    spec.public_host_key = sshd.host_key_base64();
    return spec;
}

std::unique_ptr<RemoteMachine> RemoteFixture::machine(MachineSpec spec, std::string ssh_program) {
    SshOptions options;
    options.ssh_program = std::move(ssh_program);
    options.store_dir = dir_;
    return make_ssh_machine(io_.get_executor(), pool_, std::move(spec), std::move(options));
}

nlohmann::json RemoteFixture::fixture_info(std::string_view path) const {
    for (const auto& e : compat_path_infos())
        if (e["path"] == path) return e;
    throw std::runtime_error("no fixture info for " + std::string(path));
}

ValidPathInfo RemoteFixture::local_info(std::string_view path) {
    return local_->require_path_info(dir_.parse(path));
}

namespace {
std::unique_ptr<TestJob> job_of(const StoreDir& dir, StorePath drv_path, Derivation drv) {
    auto t = std::make_unique<TestJob>(drv_path);
    t->drv = std::move(drv);
    auto& job = t->job;
    job.drv = &t->drv;
    job.store_dir = dir;
    for (const auto& [name, _] : t->drv.outputs)
        job.outputs.emplace(name, t->drv.output_path(dir, name));
    job.input_closure = t->drv.input_srcs;
    TestJob* raw = t.get();
    job.log = [raw](std::string_view s) { raw->log.append(s); };
    return t;
}
} // namespace

std::unique_ptr<TestJob> RemoteFixture::compat_job(const std::string& drv_base) {
    auto text = read_file(compat_dir() / "drv" / (drv_base + ".drv"));
    StorePath drv_path(drv_base + ".drv");
    auto name = std::string(drv_path.name().substr(0, drv_path.name().size() - 4));
    return job_of(dir_, drv_path, parse_derivation(dir_, text, name));
}

std::unique_ptr<TestJob> RemoteFixture::script_job(const std::string& name, const std::string& script) {
    Derivation d;
    d.name = name;
    d.outputs["out"] = {};
    d.input_srcs = {dir_.parse(kBusyboxPath)};
    d.platform = "x86_64-linux";
    d.builder = std::string(kBusyboxPath) + "/bin/sh";
    d.args = {"-c", script};
    d.env = {{"name", name}, {"out", ""}, {"builder", d.builder}, {"system", d.platform}};
    auto drv_path = add_derivation(*local_.store, d);
    return job_of(dir_, drv_path, read_derivation(*local_.store, drv_path));
}

} // namespace ferry::test
