#include "ferry/util/error.hh"

#include <cerrno>
#include <cstring>

namespace ferry {

void Error::render() {
    full_.clear();
    for (const auto& c : contexts_) {
        full_ += c;
        full_ += ": ";
    }
    full_ += message_;
}

SysError::SysError(const std::string& what) : SysError(errno, what) {}

SysError::SysError(int errnum, const std::string& what)
    : Error(what + ": " + std::strerror(errnum)), errnum_(errnum) {}

} // namespace ferry
