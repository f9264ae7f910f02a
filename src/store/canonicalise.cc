#include "ferry/store/canonicalise.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

constexpr struct timespec kCanonicalTimes[2] = {{1, 0}, {1, 0}};

// Removes the extended attributes that can be removed by the owner. security.* attributes (SELinux
// labels, capabilities) belong to the system and stay.
void strip_xattrs(const fs::path& path) {
    ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) {
        if (errno == ENOTSUP || errno == ENOSYS) return;
        throw SysError("listing extended attributes of '" + path.string() + "'");
    }
    if (size == 0) return;
    std::vector<char> names(size_t(size) + 1, '\0');
    size = ::llistxattr(path.c_str(), names.data(), names.size() - 1);
    if (size < 0) throw SysError("listing extended attributes of '" + path.string() + "'");
    for (const char* name = names.data(); name < names.data() + size; name += std::strlen(name) + 1) {
        std::string_view n(name);
        if (n.starts_with("security.") || n == "system.nfs4_acl") continue;
        if (::lremovexattr(path.c_str(), name) != 0 && errno != ENODATA)
            throw SysError("removing extended attribute '" + std::string(n) + "' of '" + path.string() + "'");
    }
}

void set_times(const fs::path& path) {
    if (::utimensat(AT_FDCWD, path.c_str(), kCanonicalTimes, AT_SYMLINK_NOFOLLOW) != 0)
        throw SysError("setting the modification time of '" + path.string() + "'");
}

void set_mode(const fs::path& path, const struct stat& st, mode_t mode) {
    if ((st.st_mode & 07777) == mode) return;
    if (::chmod(path.c_str(), mode) != 0) throw SysError("changing the mode of '" + path.string() + "'");
}

std::vector<std::string> list_dir(const fs::path& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw SysError("opening directory '" + dir.string() + "'");
    DIR* d = ::fdopendir(fd.get());
    if (!d) throw SysError("reading directory '" + dir.string() + "'");
    fd.release();
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n(e->d_name);
        if (n != "." && n != "..") names.emplace_back(n);
        errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err) throw SysError(err, "reading directory '" + dir.string() + "'");
    return names;
}

/// As root, files a build user made become the store owner's (this process's), as Nix chowns them back;
/// before the mode changes, so a setuid bit cleared below cannot come back with a chown.
void set_owner(const fs::path& path, const struct stat& st) {
    if (::geteuid() != 0 || (st.st_uid == ::geteuid() && st.st_gid == ::getegid())) return;
    if (::lchown(path.c_str(), ::geteuid(), ::getegid()) != 0)
        throw SysError("changing the owner of '" + path.string() + "'");
}

void canonicalise(const fs::path& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) throw SysError("getting status of '" + path.string() + "'");
    set_owner(path, st);
    if (S_ISLNK(st.st_mode)) {
        set_times(path);
        return;
    }
    if (S_ISREG(st.st_mode)) {
        strip_xattrs(path);
        set_mode(path, st, canonical_file_mode(st.st_mode));
    } else if (S_ISDIR(st.st_mode)) {
        strip_xattrs(path);
        // Read-only is enough to traverse; children's inodes can still be changed.
        set_mode(path, st, 0555);
        for (const auto& name : list_dir(path))
            canonicalise(path / name);
    } else {
        throw Error(
            "'{}' has an unsupported file type (only regular files, directories and symlinks may be in "
            "the store)",
            path.string());
    }
    set_times(path);
}

} // namespace

void canonicalise_path(const fs::path& path) {
    canonicalise(path);
}

} // namespace ferry
