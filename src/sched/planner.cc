#include "planner.hh"

namespace asio = boost::asio;

namespace ferry {

asio::awaitable<Decision> Planner::decide_path(const StorePath& path) {
    if (co_await worker_.store().is_valid(path)) co_return Decision{Decision::Kind::valid, std::nullopt};
    auto from = co_await worker_.query_substitute(path);
    if (!from) co_return Decision{Decision::Kind::unknown, std::nullopt};
    co_return Decision{Decision::Kind::substitute, std::move(from)};
}

asio::awaitable<Decision> Planner::decide_output(const StorePath& out) {
    auto d = co_await decide_path(out);
    if (d.kind == Decision::Kind::unknown) d.kind = Decision::Kind::build;
    co_return d;
}

asio::awaitable<Decision> Planner::decide_build(const StorePathSet& outputs, BuildMode mode) {
    if (mode == BuildMode::check || mode == BuildMode::repair)
        co_return Decision{Decision::Kind::check, std::nullopt};
    auto valid = co_await worker_.store().query_valid(outputs);
    co_return Decision{valid.size() == outputs.size() ? Decision::Kind::valid : Decision::Kind::build,
                       std::nullopt};
}

std::optional<Decision> Planner::after_failed_substitution() const {
    if (!worker_.options().fallback) return std::nullopt;
    return Decision{Decision::Kind::build, std::nullopt};
}

} // namespace ferry
