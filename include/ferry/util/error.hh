#pragma once
/// Errors: every failure that reaches the user is a ferry::Error. Each layer that lets one rise adds
/// context ("while substituting '/nix/store/…'"), and the command line prints it as one line.

#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace ferry {

/// The root of ferry's exceptions. `what()` is the full one-line message: the contexts, outermost
/// first, then the cause.
class Error : public std::exception {
public:
    explicit Error(std::string message) : message_(std::move(message)) { render(); }

    template <typename... Args>
    explicit Error(fmt::format_string<Args...> format, Args&&... args)
        : message_(fmt::format(format, std::forward<Args>(args)...)) {
        render();
    }

    /// Adds an outer context ("while copying '…'"); returns *this so it can be rethrown.
    Error& add_context(std::string context) {
        contexts_.insert(contexts_.begin(), std::move(context));
        render();
        return *this;
    }

    /// The cause alone, without the contexts.
    const std::string& message() const noexcept { return message_; }
    const std::vector<std::string>& contexts() const noexcept { return contexts_; }
    const char* what() const noexcept override { return full_.c_str(); }

private:
    void render();

    std::string message_;
    std::vector<std::string> contexts_;
    std::string full_;
};

/// The command line was wrong (exit code 2).
class UsageError : public Error {
public:
    using Error::Error;
};

/// Input that does not follow its format: a `.drv`, a NAR, a narinfo, a hash string.
class FormatError : public Error {
public:
    using Error::Error;
};

/// A hash that does not match the one expected.
class HashMismatch : public Error {
public:
    using Error::Error;
};

/// A system call failed; the message names the call's object and strerror(errno).
class SysError : public Error {
public:
    /// Captures errno at construction.
    explicit SysError(const std::string& what);
    SysError(int errnum, const std::string& what);
    int errnum() const noexcept { return errnum_; }

private:
    int errnum_;
};

/// Throws SysError(what) when `result` is -1; returns `result` otherwise.
template <typename T> T check_sys(T result, const std::string& what) {
    if (result == static_cast<T>(-1)) throw SysError(what);
    return result;
}

/// Runs `fn`; an Error rising from it gets `context` added.
template <typename Fn> decltype(auto) with_context(const std::string& context, Fn&& fn) {
    try {
        return fn();
    } catch (Error& e) {
        e.add_context(context);
        throw;
    }
}

} // namespace ferry
