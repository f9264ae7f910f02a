#include "ferry/sandbox/host_view.hh"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "ferry/sandbox/sandbox_error.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

/// The components of `path` below `parent`, or an error.
std::vector<std::string> below(const std::string& parent, const std::string& path) {
    std::string prefix = parent == "/" ? "/" : parent + "/";
    if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size())
        throw SandboxError("store directory '{}' is not under '{}'", path, parent);
    std::vector<std::string> parts;
    size_t pos = prefix.size();
    while (pos <= path.size()) {
        auto end = std::min(path.find('/', pos), path.size());
        auto part = path.substr(pos, end - pos);
        if (part.empty() || part == "." || part == "..")
            throw SandboxError("store directory '{}' is not a clean absolute path", path);
        parts.push_back(part);
        pos = end + 1;
    }
    return parts;
}

} // namespace

SandboxPlan plan_host_view(const HostViewSpec& spec) {
    auto missing = below(spec.parent, spec.store_dir);
    SandboxPlan plan;
    auto& ops = plan.mounts;
    ops.push_back({MountOp::Kind::make_private, "", "/", MS_REC | MS_PRIVATE, ""});
    // pivot_root needs the view to be a mount point, made before the binds go on it.
    if (spec.parent == "/") ops.push_back({MountOp::Kind::bind, spec.view, spec.view, MS_BIND, ""});
    for (const auto& entry : spec.parent_entries) {
        if (entry.name == missing.front()) continue; // not a directory on the host: the store's path wins
        auto target = spec.view + "/" + entry.name;
        auto source = join(spec.parent, entry.name);
        switch (entry.kind) {
        case HostDirEntry::Kind::directory:
            plan.entries.push_back({FsEntry::Kind::directory, target, "", 0755});
            ops.push_back({MountOp::Kind::bind, source, target, MS_BIND | MS_REC, ""});
            break;
        case HostDirEntry::Kind::file:
            plan.entries.push_back({FsEntry::Kind::file, target, "", 0644});
            ops.push_back({MountOp::Kind::bind, source, target, MS_BIND | MS_REC, ""});
            break;
        case HostDirEntry::Kind::symlink:
            plan.entries.push_back({FsEntry::Kind::symlink, target, entry.symlink_target, 0});
            break;
        }
    }
    std::string dir = spec.view;
    for (const auto& part : missing) {
        dir += "/" + part;
        plan.entries.push_back({FsEntry::Kind::directory, dir, "", 0755});
    }
    ops.push_back({MountOp::Kind::bind, spec.real_store_dir, dir, MS_BIND | MS_REC, ""});
    if (spec.parent == "/") {
        ops.push_back({MountOp::Kind::pivot_root, "", spec.view, 0, ""});
    } else {
        ops.push_back({MountOp::Kind::bind, spec.view, spec.parent, MS_BIND | MS_REC, ""});
    }
    return plan;
}

HostViewSpec probe_host_view(const std::string& store_dir) {
    HostViewSpec spec;
    spec.store_dir = store_dir;
    fs::path parent = fs::path(store_dir).parent_path();
    std::error_code ec;
    while (parent != parent.root_path() && !fs::is_directory(parent, ec))
        parent = parent.parent_path();
    spec.parent = parent.string();
    for (const auto& entry : fs::directory_iterator(parent)) {
        HostDirEntry e{entry.path().filename().string()};
        auto status = entry.symlink_status();
        if (fs::is_symlink(status)) {
            e.kind = HostDirEntry::Kind::symlink;
            e.symlink_target = fs::read_symlink(entry.path()).string();
        } else if (!fs::is_directory(status)) {
            e.kind = HostDirEntry::Kind::file;
        }
        spec.parent_entries.push_back(std::move(e));
    }
    std::sort(spec.parent_entries.begin(), spec.parent_entries.end(),
              [](const HostDirEntry& a, const HostDirEntry& b) { return a.name < b.name; });
    return spec;
}

} // namespace ferry
