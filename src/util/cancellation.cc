#include "ferry/util/cancellation.hh"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace ferry {

bool is_cancellation(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
        return e.code() == boost::asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

} // namespace ferry
