#include "ferry/sandbox/sandbox_setup.hh"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ferry/sandbox/etc_files.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/seccomp_filter.hh"
#include "ferry/sched/build_env.hh"
#include "ferry/util/error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

bool exists(const char* path) {
    struct stat st;
    return ::stat(path, &st) == 0;
}

/// Writes `data` to a new file with exactly `mode`.
void write_new_file(const std::string& path, std::string_view data, unsigned mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw SysError("creating '" + path + "'");
    write_full(fd.get(), data, "'" + path + "'");
    check_sys(::fchmod(fd.get(), mode), "setting the mode of '" + path + "'");
}

void create_entry(const FsEntry& entry) {
    const auto& path = entry.path;
    switch (entry.kind) {
    case FsEntry::Kind::directory:
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
            throw SysError("creating directory '" + path + "'");
        check_sys(::chmod(path.c_str(), entry.mode), "setting the mode of '" + path + "'");
        break;
    case FsEntry::Kind::file:
        write_new_file(path, entry.content, entry.mode);
        break;
    case FsEntry::Kind::symlink:
        check_sys(::symlink(entry.content.c_str(), path.c_str()), "creating symlink '" + path + "'");
        break;
    }
}

SandboxInput stat_input(const StorePath& path, const BuildJob& job) {
    auto real = job.real_store_dir / path.to_string();
    struct stat st;
    if (::lstat(real.c_str(), &st) != 0)
        throw SysError("input path '" + job.store_dir.print(path) + "' is not in the store at '" +
                       real.string() + "'");
    SandboxInput input{path.to_string(), SandboxInput::Kind::file, ""};
    if (S_ISDIR(st.st_mode)) {
        input.kind = SandboxInput::Kind::directory;
    } else if (S_ISLNK(st.st_mode)) {
        input.kind = SandboxInput::Kind::symlink;
        input.symlink_target = fs::read_symlink(real).string();
    }
    return input;
}

/// Nix's personality choices: 32-bit for i686 (on x86_64) and 32-bit ARM builds, UNAME26 on request.
void set_personality(ChildProgram& program, const Derivation& drv, const SandboxOptions& options) {
    utsname uts{};
    ::uname(&uts);
    bool x86_64_host = options.system == "x86_64-linux" || std::string_view(uts.machine) == "x86_64";
    program.linux32 = (drv.platform == "i686-linux" && x86_64_host) || drv.platform == "armv7l-linux" ||
                      drv.platform == "armv6l-linux";
    program.uname26 =
        options.impersonate_linux_26 && (drv.platform == "i686-linux" || drv.platform == "x86_64-linux");
}

void change_owner(const std::string& path, uid_t uid, gid_t gid) {
    check_sys(::lchown(path.c_str(), uid, gid), "changing the owner of '" + path + "'");
}

/// As Nix's chroot: the root and its store dir stay ferry's but are in the build's group (so the builder
/// can enter the one and create its outputs in the other), the build directory is the builder's.
void give_to_build_ids(const PreparedSandbox& prepared, const SandboxSpec& spec) {
    gid_t gid = prepared.ids->gid();
    change_owner(spec.root, ::geteuid(), gid);
    change_owner(spec.root + spec.store_dir, ::geteuid(), gid);
    chown_tree(prepared.build_dir, prepared.ids->uid(), gid);
}

void fill_program(PreparedSandbox& prepared, const BuildJob& job, const SandboxOptions& options,
                  const BuildEnvironment& env) {
    auto& program = prepared.program;
    program.user_namespace = true;
    const auto& ids = prepared.ids;
    program.uid_map = fmt::format("{} {} 1", kSandboxUid, ids ? ids->uid() : ::geteuid());
    program.gid_map = fmt::format("{} {} 1", kSandboxGid, ids ? ids->gid() : ::getegid());
    program.private_network = !job.drv->is_fixed_output();
    program.mounts = prepared.plan.mounts;
    program.cwd = options.build_dir_in_sandbox;
    program.builder = job.drv->builder;
    auto slash = program.builder.rfind('/');
    program.args.push_back(slash == std::string::npos ? program.builder : program.builder.substr(slash + 1));
    for (const auto& arg : job.drv->args)
        program.args.push_back(arg);
    for (const auto& [name, value] : env.vars)
        program.env.push_back(name + "=" + value);
    set_personality(program, *job.drv, options);
    program.seccomp = options.filter_syscalls ? sandbox_seccomp_program() : nullptr;
    program.max_processes = build_process_limit();
    program.finalize();
    prepared.namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                          (program.private_network ? CLONE_NEWNET : 0);
}

} // namespace

HostFacts probe_host_facts() {
    HostFacts facts;
    facts.has_dev_shm = exists("/dev/shm");
    facts.has_devpts_ptmx = exists("/dev/pts/ptmx");
    facts.has_kvm = ::access("/dev/kvm", R_OK | W_OK) == 0;
    for (const char* path : {"/etc/resolv.conf", "/etc/services", "/etc/hosts"})
        if (exists(path)) facts.network_etc_files.emplace_back(path);
    return facts;
}

std::vector<HostBind> resolve_sandbox_paths(const std::vector<SandboxPathEntry>& entries,
                                            const StoreDir& store_dir, const fs::path& real_store_dir) {
    std::vector<HostBind> out;
    for (const auto& entry : entries) {
        std::string source = entry.source;
        if (store_dir.is_in_store(source))
            source = real_store_dir.string() + source.substr(store_dir.dir().size());
        struct stat st;
        if (::stat(source.c_str(), &st) != 0) {
            if (entry.optional && errno == ENOENT) continue;
            throw SandboxError("sandbox path '{}' (from '{}'): {}", entry.target, source,
                               std::strerror(errno));
        }
        out.push_back({entry.target, source, S_ISDIR(st.st_mode)});
    }
    return out;
}

SandboxSpec make_sandbox_spec(const BuildJob& job, const SandboxOptions& options, const HostFacts& host,
                              const fs::path& root, const fs::path& build_dir) {
    SandboxSpec spec;
    spec.root = root.string();
    spec.build_dir = build_dir.string();
    spec.build_dir_in_sandbox = options.build_dir_in_sandbox;
    spec.store_dir = job.store_dir.dir();
    spec.real_store_dir = job.real_store_dir.string();
    StorePathSet outputs;
    for (const auto& [name, path] : job.outputs)
        outputs.insert(path);
    for (const auto& path : job.input_closure)
        if (!outputs.count(path)) spec.inputs.push_back(stat_input(path, job));
    spec.private_network = !job.drv->is_fixed_output();
    if (!spec.private_network)
        for (const auto& path : host.network_etc_files) {
            try {
                spec.network_etc[path] = read_file(path);
            } catch (const SysError&) {
                // Gone since the host was probed: the build sees no such file, as if never there.
            }
        }
    spec.extra_binds =
        resolve_sandbox_paths(parse_sandbox_paths(options.sandbox_paths), job.store_dir, job.real_store_dir);
    spec.host = host;
    spec.shm_size = options.shm_size;
    return spec;
}

void create_fs_entries(const std::vector<FsEntry>& entries) {
    for (const auto& entry : entries)
        create_entry(entry);
}

std::unique_ptr<PreparedSandbox> prepare_sandbox(const BuildJob& job, const SandboxOptions& options,
                                                 const HostFacts& host, std::shared_ptr<BuildIds> ids) {
    auto build_parent =
        options.build_dir_parent.empty() ? fs::temp_directory_path() : options.build_dir_parent;
    auto prepared = std::make_unique<PreparedSandbox>(
        StagedPath(job.scratch_parent, "sandbox-" + std::string(job.drv_path.name())),
        ScratchDir(job.scratch_parent, build_parent, "ferry-build-" + std::string(job.drv_path.name())));

    auto spec = make_sandbox_spec(job, options, host, prepared->root, prepared->build_dir);
    prepared->plan = plan_sandbox(spec);
    create_fs_entries(prepared->plan.entries);

    BuildEnvOptions env_options = job.env;
    env_options.store_dir = job.store_dir.dir();
    env_options.build_top = options.build_dir_in_sandbox;
    auto env = make_build_environment(*job.drv, env_options);
    for (const auto& [name, contents] : env.files)
        write_new_file((prepared->build_dir / name).string(), contents, 0644);
    prepared->ids = std::move(ids);
    if (prepared->ids) give_to_build_ids(*prepared, spec);
    fill_program(*prepared, job, options, env);
    return prepared;
}

} // namespace ferry
