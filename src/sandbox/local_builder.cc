#include "ferry/sandbox/local_builder.hh"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "ferry/sandbox/host_view.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/sandbox_setup.hh"
#include "ferry/sandbox/supervised_run.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/util/file.hh"

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace ferry {

namespace {

/// The outputs were written straight into the store's directory; this keeps the build directory alive
/// until the caller has moved them.
class LocalBuiltOutputs final : public BuiltOutputs {
public:
    LocalBuiltOutputs(ScratchDir build, std::shared_ptr<BuildIds> ids)
        : build_(std::move(build)), ids_(std::move(ids)) {}

private:
    ScratchDir build_;
    std::shared_ptr<BuildIds> ids_; ///< held until the outputs are registered (made the store owner's)
};

std::map<std::string, std::string> host_environment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        auto eq = kv.find('=');
        if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    return env;
}

bool diverted(const BuildJob& job) {
    return job.real_store_dir != fs::path(job.store_dir.dir());
}

/// The scratch directory of a host view (host_view.hh), a staging directory so that no store opened
/// meanwhile cleans it away. It holds mount points only, so it is removed entry by entry first.
class HostView {
public:
    explicit HostView(const BuildJob& job)
        : staging_(job.scratch_parent, "host-view"), dir_(staging_.path()) {
        check_sys(::mkdir(dir_.c_str(), 0755), "creating '" + dir_.string() + "'");
        try {
            auto spec = probe_host_view(job.store_dir.dir());
            spec.view = dir_.string();
            spec.real_store_dir = job.real_store_dir.string();
            plan_ = plan_host_view(spec);
            for (const auto& entry : plan_.entries) {
                create_fs_entries({entry});
                created_.push_back(entry);
            }
        } catch (...) {
            remove();
            throw;
        }
    }
    ~HostView() { remove(); }
    HostView(const HostView&) = delete;

    const std::vector<MountOp>& mounts() const { return plan_.mounts; }

private:
    void remove() noexcept {
        for (auto it = created_.rbegin(); it != created_.rend(); ++it)
            it->kind == FsEntry::Kind::directory ? ::rmdir(it->path.c_str()) : ::unlink(it->path.c_str());
        created_.clear();
        ::rmdir(dir_.c_str());
    }

    StagedPath staging_;
    fs::path dir_;
    SandboxPlan plan_;
    std::vector<FsEntry> created_;
};

/// The mounts that make the logical store dir show the physical one: one bind where the logical dir
/// exists on the host, a host view (`view`, made here) where it does not.
std::vector<MountOp> store_mounts(const BuildJob& job, std::optional<HostView>& view) {
    if (!diverted(job)) return {};
    if (!fs::is_directory(job.store_dir.dir())) {
        view.emplace(job);
        return view->mounts();
    }
    return {MountOp{.kind = MountOp::Kind::make_private, .target = "/", .flags = MS_REC | MS_PRIVATE},
            MountOp{.kind = MountOp::Kind::bind,
                    .source = job.real_store_dir.string(),
                    .target = job.store_dir.dir(),
                    .flags = MS_BIND | MS_REC}};
}

/// The child's program: no isolation, except the mounts that make the logical store dir show the
/// physical one.
ChildProgram make_program(const BuildJob& job, const fs::path& build_dir, const BuildEnvironment& env,
                          const BuildIds* ids, std::vector<MountOp> mounts) {
    ChildProgram p;
    p.uts_namespace = false;
    p.switch_user = ids != nullptr;
    if (ids) {
        p.uid = ids->uid();
        p.gid = ids->gid();
        p.clear_groups = true;
        p.max_processes = build_process_limit();
    }
    p.private_network = false;
    p.user_namespace = diverted(job) && ::geteuid() != 0;
    p.uid_map = fmt::format("{} {} 1", ::geteuid(), ::geteuid());
    p.gid_map = fmt::format("{} {} 1", ::getegid(), ::getegid());
    p.mounts = std::move(mounts);
    p.cwd = build_dir.string();
    p.builder = job.drv->builder;
    p.args.push_back(fs::path(job.drv->builder).filename().string());
    p.args.insert(p.args.end(), job.drv->args.begin(), job.drv->args.end());
    for (const auto& [k, v] : env.vars)
        p.env.push_back(k + "=" + v);
    p.finalize();
    return p;
}

void remove_outputs(const BuildJob& job) {
    for (const auto& [_, path] : job.outputs)
        delete_path(job.real_store_dir / path.to_string());
}

/// As Nix's store as root: owned by root, group-writable by the build users, sticky (they can create
/// their outputs but not remove or rename anything of another).
void let_group_create_outputs(const fs::path& store, gid_t gid) {
    struct stat st;
    check_sys(::stat(store.c_str(), &st), "getting status of '" + store.string() + "'");
    if (st.st_gid != gid && ::chown(store.c_str(), st.st_uid, gid) != 0)
        throw SysError("changing the group of '" + store.string() + "'");
    if ((st.st_mode & 07777) != 01775 && ::chmod(store.c_str(), 01775) != 0)
        throw SysError("changing the mode of '" + store.string() + "'");
}

} // namespace

asio::awaitable<std::unique_ptr<BuiltOutputs>> LocalBuilder::build(BuildJob& job) {
    auto drv = job.store_dir.print(job.drv_path);
    if (job.check)
        throw BuildError(
            "cannot check '{}' without the sandbox: the unsandboxed builder builds at the outputs' "
            "own paths, which are valid; use 'sandbox = true'",
            drv);
    std::shared_ptr<BuildIds> ids;
    if (::geteuid() == 0) {
        ids = co_await acquire_job_ids(job, build_users_, false);
        let_group_create_outputs(job.real_store_dir, ids->gid());
    }
    remove_outputs(job);

    ScratchDir build_dir(job.scratch_parent, fs::temp_directory_path(),
                         "nix-build-" + std::string(job.drv_path.name()));
    BuildEnvOptions env_options = job.env;
    env_options.store_dir = job.store_dir.dir();
    env_options.build_top = build_dir.path().string();
    env_options.impure_env = host_environment();
    auto env = make_build_environment(*job.drv, env_options);
    for (const auto& [name, contents] : env.files)
        write_file_atomic(build_dir.path() / name, contents);

    if (ids) chown_tree(build_dir.path(), ids->uid(), ids->gid());
    std::optional<HostView> view;
    auto program = make_program(job, build_dir.path(), env, ids.get(), store_mounts(job, view));
    SupervisedRunOptions options;
    options.namespaces = diverted(job) ? CLONE_NEWNS | (program.user_namespace ? CLONE_NEWUSER : 0) : 0;
    options.what = "build process";
    // The builder leads its own session: its process group holds whatever it left running.
    options.on_exit = [&ids](pid_t pid) {
        ::kill(-pid, SIGKILL);
        // Also what left the group: the uid is this build's alone.
        if (ids) kill_uid_processes(ids->uid());
    };
    try {
        auto outcome = co_await run_supervised(program, job, options);
        throw_on_failure(job, outcome, program, [&]() -> std::string {
            if (!job.keep_failed) return "";
            return "; note: keeping build directory '" + build_dir.release().string() + "'";
        });
    } catch (...) {
        remove_outputs(job);
        throw;
    }
    auto out = std::make_unique<LocalBuiltOutputs>(std::move(build_dir), std::move(ids));
    for (const auto& [name, path] : job.outputs)
        out->locations[name] = job.real_store_dir / path.to_string();
    co_return out;
}

} // namespace ferry
