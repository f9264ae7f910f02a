#include "ferry/store/nar_dump.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ferry/store/nar_format.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace ferry {

namespace {

/// Below this much free space in the buffer, a file read first flushes it, so reads stay large.
constexpr size_t kMinRead = 64 * 1024;
/// Files at least this big get a sequential read-ahead hint.
constexpr uint64_t kAdviseThreshold = 1024 * 1024;
/// getdents64 buffer.
constexpr size_t kDirentBufferSize = 64 * 1024;

void append_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out += char(uint8_t(v >> (8 * i)));
}

/// The wire form of a sequence of strings known in advance.
std::string serialise(std::initializer_list<std::string_view> strings) {
    std::string out;
    for (auto s : strings) {
        append_u64(out, s.size());
        out += s;
        out.append(nar_padding(s.size()), '\0');
    }
    return out;
}

const std::string kWireMagic = serialise({kNarMagic});
const std::string kWireDirectory = serialise({"(", "type", "directory"});
const std::string kWireRegular = serialise({"(", "type", "regular", "contents"});
const std::string kWireExecutable = serialise({"(", "type", "regular", "executable", "", "contents"});
const std::string kWireSymlink = serialise({"(", "type", "symlink", "target"});
const std::string kWireEntry = serialise({"entry", "(", "name"});
const std::string kWireNode = serialise({"node"});
const std::string kWireClose = serialise({")"});

std::string_view file_type_name(unsigned char d_type) {
    switch (d_type) {
    case DT_FIFO:
        return "FIFO";
    case DT_SOCK:
        return "socket";
    case DT_CHR:
        return "character device";
    case DT_BLK:
        return "block device";
    default:
        return "unknown";
    }
}

struct DirEntry {
    size_t offset; // of the NUL-terminated name in the names buffer
    size_t length;
    unsigned char type;
};

/// One dump: a buffer that file contents are read into directly, handed to the sink when full.
class Dumper {
public:
    explicit Dumper(NarBufferSink& sink) : sink_(sink), buf_(std::make_unique<char[]>(kNarDumpChunkSize)) {}

    void dump_root(const std::filesystem::path& path) {
        path_ = path.string();
        put(kWireMagic);
        dump_node(AT_FDCWD, path_.c_str(), DT_UNKNOWN);
        flush();
    }

private:
    void dump_node(int dir_fd, const char* name, unsigned char type);
    void dump_directory(int fd);
    void read_entries(int fd, std::string& names, std::vector<DirEntry>& entries);
    void dump_regular(int fd);
    void copy_contents(int fd, uint64_t size);
    void dump_symlink(int dir_fd, const char* name);

    void put(std::string_view bytes) {
        while (!bytes.empty()) {
            size_t n = std::min(bytes.size(), kNarDumpChunkSize - len_);
            std::memcpy(buf_.get() + len_, bytes.data(), n);
            len_ += n;
            bytes.remove_prefix(n);
            if (len_ == kNarDumpChunkSize) flush();
        }
    }
    void put_u64(uint64_t v) {
        char bytes[8];
        for (int i = 0; i < 8; ++i)
            bytes[i] = char(uint8_t(v >> (8 * i)));
        put({bytes, 8});
    }
    void put_padding(uint64_t size) {
        static constexpr char kZeros[8] = {};
        put({kZeros, nar_padding(size)});
    }
    void put_string(std::string_view s) {
        put_u64(s.size());
        put(s);
        put_padding(s.size());
    }
    void flush() {
        if (len_ == 0) return;
        buf_ = sink_.exchange(std::move(buf_), len_);
        len_ = 0;
        if (!buf_) throw std::logic_error("NarBufferSink returned no buffer");
    }
    std::string shown() const { return "'" + path_ + "'"; }

    NarBufferSink& sink_;
    std::unique_ptr<char[]> buf_;
    size_t len_ = 0;
    std::unique_ptr<char[]> dirents_;
    std::string path_; // the node being dumped, for messages
};

void Dumper::dump_node(int dir_fd, const char* name, unsigned char type) {
    if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            throw SysError("getting status of " + shown());
        type = IFTODT(st.st_mode);
    }
    switch (type) {
    case DT_REG: {
        // O_NOFOLLOW and the fstat() below catch a file replaced since its directory was read.
        UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        if (!fd) throw SysError("opening " + shown());
        dump_regular(fd.get());
        break;
    }
    case DT_DIR: {
        UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw SysError("opening directory " + shown());
        dump_directory(fd.get());
        break;
    }
    case DT_LNK:
        dump_symlink(dir_fd, name);
        break;
    default:
        throw Error("cannot dump {}: unsupported file type ({})", shown(), file_type_name(type));
    }
}

void Dumper::dump_directory(int fd) {
    std::string names;
    std::vector<DirEntry> entries;
    read_entries(fd, names, entries);
    std::sort(entries.begin(), entries.end(), [&](const DirEntry& a, const DirEntry& b) {
        return std::string_view(names.data() + a.offset, a.length) <
               std::string_view(names.data() + b.offset, b.length);
    });
    put(kWireDirectory);
    size_t base = path_.size();
    for (const auto& e : entries) {
        std::string_view name(names.data() + e.offset, e.length);
        put(kWireEntry);
        put_string(name);
        put(kWireNode);
        path_ += '/';
        path_ += name;
        dump_node(fd, names.data() + e.offset, e.type);
        path_.resize(base);
        put(kWireClose);
    }
    put(kWireClose);
}

void Dumper::read_entries(int fd, std::string& names, std::vector<DirEntry>& entries) {
    // One buffer serves every level: a directory is read completely before its children are visited.
    if (!dirents_) dirents_ = std::make_unique<char[]>(kDirentBufferSize);
    for (;;) {
        ssize_t n = ::getdents64(fd, dirents_.get(), kDirentBufferSize);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("reading directory " + shown());
        }
        if (n == 0) break;
        for (ssize_t pos = 0; pos < n;) {
            auto* d = reinterpret_cast<struct dirent64*>(dirents_.get() + pos);
            pos += d->d_reclen;
            size_t len = std::strlen(d->d_name);
            if ((len == 1 && d->d_name[0] == '.') || (len == 2 && d->d_name[0] == '.' && d->d_name[1] == '.'))
                continue;
            entries.push_back(DirEntry{names.size(), len, d->d_type});
            names.append(d->d_name, len + 1); // with the NUL, for openat()
        }
    }
}

void Dumper::dump_regular(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw SysError("getting status of " + shown());
    if (!S_ISREG(st.st_mode)) throw Error("cannot dump {}: it changed type while being dumped", shown());
    put(st.st_mode & S_IXUSR ? kWireExecutable : kWireRegular);
    auto size = uint64_t(st.st_size);
    put_u64(size);
    if (size >= kAdviseThreshold) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    copy_contents(fd, size);
    put_padding(size);
    put(kWireClose);
}

void Dumper::copy_contents(int fd, uint64_t size) {
    uint64_t left = size;
    while (left > 0) {
        size_t room = kNarDumpChunkSize - len_;
        if (room < kMinRead && left > room) {
            flush();
            room = kNarDumpChunkSize;
        }
        ssize_t n = ::read(fd, buf_.get() + len_, size_t(std::min<uint64_t>(room, left)));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError("reading " + shown());
        }
        if (n == 0) throw Error("cannot dump {}: the file shrank while being read", shown());
        len_ += size_t(n);
        left -= uint64_t(n);
        if (len_ == kNarDumpChunkSize) flush();
    }
}

void Dumper::dump_symlink(int dir_fd, const char* name) {
    std::string target(256, '\0');
    for (;;) {
        ssize_t n = ::readlinkat(dir_fd, name, target.data(), target.size());
        if (n < 0) throw SysError("reading symlink " + shown());
        if (size_t(n) < target.size()) {
            target.resize(size_t(n));
            break;
        }
        target.resize(target.size() * 2);
    }
    put(kWireSymlink);
    put_string(target);
    put(kWireClose);
}

/// Lends each buffer to a NarSink as a view and takes it back.
class ViewSink final : public NarBufferSink {
public:
    explicit ViewSink(const NarSink& sink) : sink_(sink) {}
    std::unique_ptr<char[]> exchange(std::unique_ptr<char[]> buffer, size_t size) override {
        sink_({buffer.get(), size});
        return buffer;
    }

private:
    const NarSink& sink_;
};

} // namespace

void dump_path(const std::filesystem::path& path, const NarSink& sink) {
    ViewSink views(sink);
    dump_path(path, views);
}

void dump_path(const std::filesystem::path& path, NarBufferSink& sink) {
    Dumper dumper(sink);
    dumper.dump_root(path);
}

} // namespace ferry
