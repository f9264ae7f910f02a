#include "ferry/store/nar_restore.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "ferry/util/error.hh"

namespace ferry {

namespace {
/// Contents are gathered into writes of this size when the parser hands them over in small slices.
constexpr size_t kWriteBufferSize = 256 * 1024;
} // namespace

NarRestorer::NarRestorer(std::filesystem::path dest) : dest_(std::move(dest)) {}

NarRestorer::~NarRestorer() {
    if (committed_) return;
    try {
        remove_partial();
    } catch (...) {
        // A destructor must not throw; remove_partial() is called explicitly where the error matters.
    }
}

void NarRestorer::remove_partial() {
    file_.reset();
    dirs_.clear();
    if (created_) delete_path(dest_);
    created_ = false;
}

std::string NarRestorer::describe(std::string_view path) const {
    return "'" + (path.empty() ? dest_ : dest_ / std::string(path)).string() + "'";
}

int NarRestorer::parent_fd(std::string_view path, std::string& name) const {
    if (path.empty()) {
        name = dest_.string();
        return AT_FDCWD;
    }
    if (dirs_.empty()) throw std::logic_error("NarRestorer: entry outside any directory");
    auto slash = path.rfind('/');
    name.assign(slash == std::string_view::npos ? path : path.substr(slash + 1));
    return dirs_.back().get();
}

void NarRestorer::create_directory(std::string_view path) {
    std::string name;
    int parent = parent_fd(path, name);
    if (::mkdirat(parent, name.c_str(), 0755) != 0) throw SysError("creating directory " + describe(path));
    if (path.empty()) created_ = true;
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw SysError("opening directory " + describe(path));
    dirs_.push_back(std::move(fd));
}

void NarRestorer::close_directory() {
    if (!dirs_.empty()) dirs_.pop_back();
}

void NarRestorer::create_regular_file(std::string_view path, bool executable, uint64_t) {
    std::string name;
    int parent = parent_fd(path, name);
    mode_t mode = executable ? 0755 : 0644;
    file_.reset(::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!file_) throw SysError("creating file " + describe(path));
    if (path.empty()) created_ = true;
    file_path_ = describe(path);
    // The owner's x bit is what a dump records; make sure an unusual umask did not take it away.
    if (executable && ::fchmod(file_.get(), mode) != 0)
        throw SysError("making " + file_path_ + " executable");
}

void NarRestorer::file_contents(std::string_view chunk) {
    if (buf_len_ + chunk.size() > kWriteBufferSize) flush();
    if (chunk.size() >= kWriteBufferSize) {
        write_full(file_.get(), chunk, file_path_);
        return;
    }
    // Not zeroed: only the pages a small file touches count (hundreds of restorers may be alive).
    if (!buf_) buf_.reset(new char[kWriteBufferSize]);
    std::memcpy(buf_.get() + buf_len_, chunk.data(), chunk.size());
    buf_len_ += chunk.size();
}

void NarRestorer::flush() {
    if (buf_len_ == 0) return;
    write_full(file_.get(), {buf_.get(), buf_len_}, file_path_);
    buf_len_ = 0;
}

void NarRestorer::close_file() {
    flush();
    if (::close(file_.release()) != 0) throw SysError("closing " + file_path_);
}

void NarRestorer::create_symlink(std::string_view path, std::string_view target) {
    std::string name;
    int parent = parent_fd(path, name);
    if (::symlinkat(std::string(target).c_str(), parent, name.c_str()) != 0)
        throw SysError("creating symlink " + describe(path));
    if (path.empty()) created_ = true;
}

uint64_t restore_nar(std::string_view nar, const std::filesystem::path& dest) {
    NarRestorer restorer(dest);
    NarParser parser(restorer);
    parser.feed(nar);
    parser.finish();
    restorer.commit();
    return parser.nar_size();
}

} // namespace ferry
