#include "ferry/sandbox/mount_plan.hh"

#include <sys/mount.h>

#include <map>
#include <set>

#include "ferry/sandbox/etc_files.hh"
#include "ferry/sandbox/sandbox_error.hh"

namespace ferry {

namespace {

/// The /dev nodes Nix bind-mounts from the host (its list, without the optional /dev/kvm).
constexpr const char* kDevNodes[] = {"/dev/full", "/dev/null",    "/dev/random",
                                     "/dev/tty",  "/dev/urandom", "/dev/zero"};

constexpr unsigned long kBindFlags = MS_BIND | MS_REC;
constexpr unsigned long kReadOnlyFlags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
/// `sandbox-paths` may be device nodes (or hold them), which a read-only mount leaves usable.
constexpr unsigned long kHostPathReadOnlyFlags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID;

/// What container runtimes make read-only in /proc: the kernel's knobs.
constexpr const char* kProcReadOnly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                         "/proc/sysrq-trigger"};
/// Files of /proc that show the kernel's internals, hidden behind /dev/null.
constexpr const char* kProcMaskedFiles[] = {"/proc/kcore",       "/proc/keys",        "/proc/latency_stats",
                                            "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug",
                                            "/proc/kmsg",        "/proc/kpagecount",  "/proc/kpageflags",
                                            "/proc/kpagecgroup", "/proc/config.gz"};
/// Directories of /proc hidden behind an empty read-only tmpfs.
constexpr const char* kProcMaskedDirs[] = {"/proc/acpi", "/proc/asound", "/proc/scsi"};

struct Bind {
    std::string source;
    bool is_directory = true;
    /// Remount flags making the bind read-only; 0: writable.
    unsigned long read_only = 0;
};

/// Whether `path` is absolute and has no ".", ".." or empty components.
bool is_clean_absolute(std::string_view path) {
    if (path.size() < 2 || path[0] != '/' || path.back() == '/') return false;
    size_t pos = 1;
    while (pos <= path.size()) {
        auto end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        auto part = path.substr(pos, end - pos);
        if (part.empty() || part == "." || part == "..") return false;
        pos = end + 1;
    }
    return true;
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

/// Accumulates the plan; paths given to it are as the builder sees them ("/etc/passwd").
class PlanBuilder {
public:
    explicit PlanBuilder(const SandboxSpec& spec) : spec_(spec) {}

    SandboxPlan build() {
        plan_.entries.push_back({FsEntry::Kind::directory, spec_.root, "", 0750});
        directory("/tmp", 01777);
        etc_files();
        store_dir();
        collect_binds();
        bool own_dev = !binds_.count("/dev");
        if (own_dev) dev_entries();
        directory("/proc", 0755);
        mounts(own_dev);
        return std::move(plan_);
    }

private:
    std::string host(const std::string& inside) const { return spec_.root + inside; }

    void directory(const std::string& inside, unsigned mode) {
        if (inside == "/" || made_.count(inside)) return;
        directory(parent_of(inside), 0755);
        made_.insert(inside);
        plan_.entries.push_back({FsEntry::Kind::directory, host(inside), "", mode});
    }

    void file(const std::string& inside, std::string content, unsigned mode = 0644) {
        directory(parent_of(inside), 0755);
        plan_.entries.push_back({FsEntry::Kind::file, host(inside), std::move(content), mode});
    }

    void symlink(const std::string& inside, std::string target) {
        directory(parent_of(inside), 0755);
        plan_.entries.push_back({FsEntry::Kind::symlink, host(inside), std::move(target), 0});
    }

    void etc_files() {
        directory("/etc", 0755);
        file("/etc/group", sandbox_etc_group());
        if (spec_.private_network) {
            file("/etc/hosts", sandbox_etc_hosts());
        } else {
            file("/etc/nsswitch.conf", sandbox_etc_nsswitch());
            // Copies, read-only: a bind of the host's files would let the builder write them.
            for (const auto& [inside, content] : spec_.network_etc)
                file(inside, content, 0444);
        }
        file("/etc/passwd", sandbox_etc_passwd(spec_.build_dir_in_sandbox));
    }

    void store_dir() {
        if (!is_clean_absolute(spec_.store_dir))
            throw SandboxError("store directory '{}' is not a clean absolute path", spec_.store_dir);
        directory(spec_.store_dir, 01775);
    }

    /// Nix's precedence: sandbox-paths, overridden by the build dir and the inputs; the /dev nodes and
    /// the host /etc files only where nothing else is mounted.
    void collect_binds() {
        for (const auto& extra : spec_.extra_binds) {
            if (!is_clean_absolute(extra.target))
                throw SandboxError("sandbox path '{}' is not a clean absolute path", extra.target);
            binds_[extra.target] = {extra.source, extra.is_directory, kHostPathReadOnlyFlags};
        }
        binds_[spec_.build_dir_in_sandbox] = {spec_.build_dir, true, 0};
        for (const auto& input : spec_.inputs) {
            auto inside = spec_.store_dir + "/" + input.base_name;
            if (!is_clean_absolute(inside) || input.base_name.find('/') != std::string::npos)
                throw SandboxError("invalid input store path '{}'", inside);
            if (input.kind == SandboxInput::Kind::symlink) {
                binds_.erase(inside);
                symlink(inside, input.symlink_target);
                continue;
            }
            binds_[inside] = {spec_.real_store_dir + "/" + input.base_name,
                              input.kind == SandboxInput::Kind::directory, kReadOnlyFlags};
        }
        if (!binds_.count("/dev")) {
            for (const char* node : kDevNodes)
                binds_.emplace(node, Bind{node, false, 0});
            if (spec_.host.has_kvm) binds_.emplace("/dev/kvm", Bind{"/dev/kvm", false, 0});
        }
    }

    void dev_entries() {
        directory("/dev", 0755);
        directory("/dev/shm", 0755);
        directory("/dev/pts", 0755);
        symlink("/dev/fd", "/proc/self/fd");
        symlink("/dev/stdin", "/proc/self/fd/0");
        symlink("/dev/stdout", "/proc/self/fd/1");
        symlink("/dev/stderr", "/proc/self/fd/2");
        if (use_devpts(true)) symlink("/dev/ptmx", "/dev/pts/ptmx");
    }

    bool use_devpts(bool own_dev) const {
        return own_dev && spec_.host.has_devpts_ptmx && !binds_.count("/dev/pts") &&
               !binds_.count("/dev/ptmx");
    }

    void mount_points() {
        for (const auto& [inside, bind] : binds_) {
            if (bind.is_directory)
                directory(inside, 0755);
            else if (!made_files_.count(inside) && !is_generated(inside))
                file(inside, "");
            made_files_.insert(inside);
        }
    }

    bool is_generated(const std::string& inside) const {
        for (const auto& entry : plan_.entries)
            if (entry.path == host(inside)) return true;
        return false;
    }

    void mounts(bool own_dev) {
        mount_points();
        auto& ops = plan_.mounts;
        ops.push_back({MountOp::Kind::make_private, "", "/", MS_REC | MS_PRIVATE, ""});
        // pivot_root needs the new root to be a mount point; the store dir is a mount of its own so
        // that, as in Nix, renames between /build or /tmp and the store fail with EXDEV.
        ops.push_back({MountOp::Kind::bind, spec_.root, spec_.root, MS_BIND, ""});
        ops.push_back({MountOp::Kind::bind, host(spec_.store_dir), host(spec_.store_dir), MS_BIND, ""});
        for (const auto& [inside, bind] : binds_) {
            ops.push_back({MountOp::Kind::bind, bind.source, host(inside), kBindFlags, ""});
            if (bind.read_only)
                ops.push_back({MountOp::Kind::remount_read_only, "", host(inside), bind.read_only, ""});
        }
        ops.push_back({MountOp::Kind::mount_fs, "proc", host("/proc"), 0, ""});
        protect_proc();
        if (own_dev && spec_.host.has_dev_shm)
            ops.push_back({MountOp::Kind::mount_fs, "tmpfs", host("/dev/shm"), 0, "size=" + spec_.shm_size});
        if (use_devpts(own_dev)) {
            ops.push_back({MountOp::Kind::mount_fs, "devpts", host("/dev/pts"), 0, "newinstance,mode=0620"});
            // Some kernels create ptmx with mode 0; Nix makes it usable by everyone.
            ops.push_back({MountOp::Kind::chmod, "", host("/dev/pts/ptmx"), 0666, ""});
        }
        ops.push_back({MountOp::Kind::pivot_root, "", spec_.root, 0, ""});
    }

    /// Binds over the fresh /proc: a builder that becomes root of a nested user namespace cannot undo
    /// them (they are locked), and cannot mount another /proc while this one has them.
    void protect_proc() {
        auto& ops = plan_.mounts;
        for (const char* path : kProcReadOnly) {
            ops.push_back({MountOp::Kind::bind, host(path), host(path), MS_BIND | MS_REC, "", true});
            ops.push_back({MountOp::Kind::remount_read_only, "", host(path), kReadOnlyFlags, "", true});
        }
        for (const char* path : kProcMaskedFiles)
            ops.push_back({MountOp::Kind::bind, "/dev/null", host(path), MS_BIND, "", true});
        for (const char* path : kProcMaskedDirs)
            ops.push_back({MountOp::Kind::mount_fs, "tmpfs", host(path),
                           MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555", true});
    }

    const SandboxSpec& spec_;
    SandboxPlan plan_;
    std::set<std::string> made_;
    std::set<std::string> made_files_;
    std::map<std::string, Bind> binds_;
};

} // namespace

std::string MountOp::describe() const {
    switch (kind) {
    case Kind::make_private:
        return "making '" + target + "' private";
    case Kind::bind:
        return "bind-mounting '" + source + "' on '" + target + "'";
    case Kind::remount_read_only:
        return "remounting '" + target + "' read-only";
    case Kind::mount_fs:
        return "mounting " + source + " on '" + target + "'";
    case Kind::chmod:
        return "changing the mode of '" + target + "'";
    case Kind::pivot_root:
        return "pivoting the root to '" + target + "'";
    }
    return "mount step on '" + target + "'";
}

SandboxPlan plan_sandbox(const SandboxSpec& spec) {
    return PlanBuilder(spec).build();
}

std::vector<SandboxPathEntry> parse_sandbox_paths(const std::vector<std::string>& entries) {
    std::vector<SandboxPathEntry> out;
    for (std::string entry : entries) {
        if (entry.empty()) continue;
        SandboxPathEntry parsed;
        if (entry.back() == '?') {
            parsed.optional = true;
            entry.pop_back();
        }
        auto eq = entry.find('=');
        parsed.target = entry.substr(0, eq);
        parsed.source = eq == std::string::npos ? parsed.target : entry.substr(eq + 1);
        if (parsed.target.empty() || parsed.target[0] != '/' || parsed.source.empty() ||
            parsed.source[0] != '/')
            throw SandboxError("sandbox path '{}' must be absolute (as 'path' or 'target=source')", entry);
        out.push_back(std::move(parsed));
    }
    return out;
}

} // namespace ferry
