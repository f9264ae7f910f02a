#pragma once
/// The sandbox described before it is carried out (bubblewrap's way). From a build's facts a pure
/// function lists the files and directories the parent creates under the new root, then the mount
/// operations the child performs in its own mount namespace, in order. Nothing here touches the
/// filesystem, so the layout is tested without namespaces. The layout is Nix 2.8's chroot: inputs at
/// their logical store paths, a writable store dir (mode 1775), /build, /tmp (1777), /etc/{passwd,group,
/// hosts}, the /dev subset, a fresh /proc.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ferry {

/// A host path made visible inside the sandbox: a `sandbox-paths` entry, or one of the host's /etc
/// files a fixed-output build sees.
struct HostBind {
    std::string target; ///< absolute path inside the sandbox
    std::string source; ///< absolute path on the host
    bool is_directory = false;
    friend bool operator==(const HostBind&, const HostBind&) = default;
};

/// One store path of the input closure. Directories and files are bind-mounted read-only; a store
/// path that is a symlink is recreated as the same symlink (a mount would follow it).
struct SandboxInput {
    enum class Kind : uint8_t { directory, file, symlink };
    std::string base_name; ///< "<hash>-<name>"
    Kind kind = Kind::directory;
    std::string symlink_target; ///< for Kind::symlink
};

/// What the host offers; probed once by probe_host_facts() (sandbox/host_facts.hh).
struct HostFacts {
    bool has_dev_shm = true;     ///< Nix mounts a tmpfs on /dev/shm only when the host has one
    bool has_devpts_ptmx = true; ///< and a new devpts instance only when /dev/pts/ptmx exists
    /// /dev/kvm is usable: Nix then has the "kvm" system feature by default and binds /dev/kvm.
    bool has_kvm = false;
    /// Which of /etc/resolv.conf, /etc/services, /etc/hosts exist (fixed-output builds see copies).
    std::vector<std::string> network_etc_files;
};

/// Everything the plan depends on. "Host" paths are absolute paths on the host.
struct SandboxSpec {
    std::string root;      ///< host directory that becomes "/"
    std::string build_dir; ///< host build directory, bind-mounted at build_dir_in_sandbox
    std::string build_dir_in_sandbox = "/build";
    std::string store_dir = "/nix/store"; ///< logical store dir
    std::string real_store_dir;           ///< where the inputs are on the host
    std::vector<SandboxInput> inputs;     ///< the input closure, outputs already left out
    /// False for fixed-output derivations: they keep the host network and see copies of its /etc/hosts,
    /// /etc/resolv.conf and /etc/services (read-only files, never the host's own) instead of a generated
    /// /etc/hosts.
    bool private_network = true;
    /// Path inside ("/etc/hosts") → the host file's contents, read when the build is prepared.
    std::map<std::string, std::string> network_etc;
    std::vector<HostBind> extra_binds; ///< `sandbox-paths`, resolved (see resolve_sandbox_paths)
    HostFacts host;
    std::string shm_size = "50%"; ///< size of the /dev/shm tmpfs (Nix's sandbox-dev-shm-size)
};

/// A file, directory or symlink the parent creates under the new root before the child starts.
struct FsEntry {
    enum class Kind : uint8_t { directory, file, symlink };
    Kind kind = Kind::directory;
    std::string path;    ///< host path, under SandboxSpec::root
    std::string content; ///< file contents or symlink target
    unsigned mode = 0;   ///< permission bits of directories and files (set exactly, umask ignored)
    friend bool operator==(const FsEntry&, const FsEntry&) = default;
};

/// One step the child performs in its new mount namespace.
struct MountOp {
    enum class Kind : uint8_t {
        make_private,      ///< mount(NULL, target, NULL, flags = MS_REC|MS_PRIVATE)
        bind,              ///< mount(source, target, NULL, flags ⊇ MS_BIND)
        remount_read_only, ///< mount(NULL, target, NULL, flags ⊇ MS_REMOUNT|MS_BIND|MS_RDONLY), keeping
                           ///< the flags the kernel locks (noexec, …) of the mount below
        mount_fs,          ///< mount(source, target, fstype = source, flags, data)
        chmod,             ///< chmod(target, flags) (the new devpts instance's ptmx, as Nix does)
        pivot_root,        ///< make `target` the root and detach the old one
    };
    Kind kind = Kind::bind;
    std::string source;
    std::string target;
    unsigned long flags = 0;
    std::string data;
    /// Skipped when its target does not exist (the /proc entries a kernel may not have).
    bool optional = false;

    /// "bind-mounting '/a' on '/b'", for errors.
    std::string describe() const;
    friend bool operator==(const MountOp&, const MountOp&) = default;
};

struct SandboxPlan {
    std::vector<FsEntry> entries; ///< created by the parent, in order (parents first)
    std::vector<MountOp> mounts;  ///< carried out by the child, in order
};

/// Lays out the sandbox. Binds are sorted by target path (so a parent directory is mounted before
/// anything under it); each input is bound read-only, nosuid, nodev at `store_dir/<base name>`, each
/// `sandbox-paths` entry read-only and nosuid. Nothing of the host is bound writable but the /dev nodes
/// and the build's own directory. In the fresh /proc, the kernel's knobs are read-only (/proc/sys,
/// /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs) and the kernel's internals masked (kcore, keys,
/// timer_list, …), as container runtimes do.
/// Throws SandboxError when an extra bind's target collides with an input or escapes the root.
SandboxPlan plan_sandbox(const SandboxSpec& spec);

/// A `sandbox-paths` entry: "path", "target=source", optional when it ends in '?'.
struct SandboxPathEntry {
    std::string target;
    std::string source;
    bool optional = false;
    friend bool operator==(const SandboxPathEntry&, const SandboxPathEntry&) = default;
};

/// Parses `sandbox-paths` as Nix does (empty entries ignored). Throws SandboxError for a relative path.
std::vector<SandboxPathEntry> parse_sandbox_paths(const std::vector<std::string>& entries);

} // namespace ferry
