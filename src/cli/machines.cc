#include "machines.hh"

#include "ferry/remote/machine_file.hh"

namespace asio = boost::asio;

namespace ferry::cli {

std::vector<MachineSpec> configured_machines(const Settings& settings) {
    return parse_machines(settings.builders, settings.system, "builders");
}

namespace {

MachineDown not_connected(const MachineSpec& spec) {
    return MachineDown("cannot connect to '{}': building on remote machines is not wired into the command "
                       "line yet",
                       spec.uri);
}

} // namespace

asio::awaitable<StorePathSet> UnconnectedMachine::query_valid(StorePathSet, bool) {
    throw not_connected(spec_);
    co_return StorePathSet{};
}

asio::awaitable<void> UnconnectedMachine::upload(StoreView&, std::vector<ValidPathInfo>) {
    throw not_connected(spec_);
    co_return;
}

asio::awaitable<std::vector<StagedTree>> UnconnectedMachine::build(const BuildJob&, StoreView&) {
    throw not_connected(spec_);
    co_return std::vector<StagedTree>{};
}

} // namespace ferry::cli
