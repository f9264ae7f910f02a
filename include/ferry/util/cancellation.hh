#pragma once
/// Telling a cancellation apart from a failure: a coroutine that was cancelled (or whose io_context is
/// going away) ends with boost::system::system_error(operation_aborted), which callers pass on rather
/// than report. Modules whose own errors can stand for a cancellation (http's HttpError) add theirs on
/// top of this one (ferry::http::is_cancellation).

#include <exception>

namespace ferry {

/// True when `error` is a boost::system::system_error with code operation_aborted (what a cancelled
/// Asio operation or Event wait throws). False for a null pointer and for any other exception.
/// Rethrows nothing; callable from any thread.
bool is_cancellation(const std::exception_ptr& error) noexcept;

} // namespace ferry
