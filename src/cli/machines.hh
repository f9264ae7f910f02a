#pragma once
// The remote machines of the `builders` setting, as the command line hands them to the worker.

#include <memory>
#include <vector>

#include "ferry/sched/build_machine.hh"
#include "ferry/util/settings.hh"

namespace ferry::cli {

/// The machines of `settings.builders` (Nix's syntax; `@FILE` read, a missing file holding none).
/// Throws the parser's errors (remote/machine_file.hh).
std::vector<MachineSpec> configured_machines(const Settings& settings);

/// A machine known by its spec only: the dry run names it; contacting it throws MachineDown. It stands
/// in until the SSH transport (remote/ssh_machine.hh) is wired into the command line.
class UnconnectedMachine final : public RemoteMachine {
public:
    explicit UnconnectedMachine(MachineSpec spec) : spec_(std::move(spec)) {}
    const MachineSpec& spec() const override { return spec_; }
    boost::asio::awaitable<StorePathSet> query_valid(StorePathSet, bool) override;
    boost::asio::awaitable<void> upload(StoreView&, std::vector<ValidPathInfo>) override;
    boost::asio::awaitable<std::vector<StagedTree>> build(const BuildJob&, StoreView&) override;

private:
    MachineSpec spec_;
};

} // namespace ferry::cli
