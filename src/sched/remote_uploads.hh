#pragma once
// RemoteUploads: the paths copied to one remote machine in this run, so that each is copied once even
// when several builds need it at the same time. A build hands over the paths the machine lacks; they
// go in topological order, in batches: a run of paths nobody is copying is claimed and copied in one
// upload() call, and a path another build is copying is waited for (its copy started before ours
// reached it, so waiting never closes a cycle). Uploads to different machines are independent: there
// is no lock beyond the per-path events.
//
// Loop thread only.

#include <map>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "ferry/sched/build_machine.hh"
#include "ferry/sched/store_view.hh"
#include "ferry/util/event.hh"

namespace ferry {

/// `infos` sorted so that each path comes after the paths among them that it refers to (ties: by path).
std::vector<ValidPathInfo> topological_order(std::vector<ValidPathInfo> infos);

class RemoteUploads {
public:
    RemoteUploads(const boost::asio::any_io_executor& ex, RemoteMachine& machine)
        : ex_(ex), machine_(machine) {}

    /// Makes every path of `missing` (valid in `store`) valid on the machine: copies those nobody has
    /// copied or is copying, waits for the others. Throws MachineDown (its own upload's, or that of the
    /// build whose copy it waited for).
    boost::asio::awaitable<void> ensure(StoreView& store, StorePathSet missing);

    /// Paths copied so far (each once).
    size_t uploaded() const noexcept { return uploaded_; }

private:
    struct Copy {
        explicit Copy(const boost::asio::any_io_executor& ex) : done(ex) {}
        Event done;
        bool ok = false;
        /// It failed because the machine did (else it was cancelled: a waiter copies it itself).
        std::string down_reason;
    };
    /// Copies `batch` (claimed by the caller), then settles its entries.
    boost::asio::awaitable<void> copy(StoreView& store, std::vector<ValidPathInfo> batch,
                                      std::vector<std::shared_ptr<Copy>> claims);

    boost::asio::any_io_executor ex_;
    RemoteMachine& machine_;
    std::map<StorePath, std::shared_ptr<Copy>> copies_;
    size_t uploaded_ = 0;
};

} // namespace ferry
