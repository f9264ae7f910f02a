#include "ferry/http/request.hh"

#include <strings.h>

#include "ferry/http/options.hh"

namespace ferry::http {

const std::string* Response::header(std::string_view name) const {
    for (const auto& h : headers)
        if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0)
            return &h.value;
    return nullptr;
}

std::string default_user_agent() {
    return "ferry/" FERRY_VERSION;
}

} // namespace ferry::http
