#pragma once
/// Reference cycles: narinfos that refer to each other, derivations that are inputs of each other. The
/// worker finds them in the graph it discovers (query_missing) and among goals that wait for each other
/// (realise), and reports them with Nix's message instead of waiting forever.

#include <functional>
#include <vector>

#include "ferry/store/store_path.hh"
#include "ferry/util/error.hh"

namespace ferry {

/// A cycle of references. The message is Nix's, "cycle detected in the references of 'A' from 'B'"
/// (A is reached again from B, which refers to it), followed by the whole cycle when it is longer.
class CycleError : public Error {
public:
    /// `cycle` is c0 -> c1 -> … -> c0 (each refers to the next; the first is repeated at the end).
    CycleError(const StoreDir& dir, const std::vector<StorePath>& cycle);
};

/// Calls `add` with each successor of a node.
using SuccessorsFn =
    std::function<void(const StorePath& node, const std::function<void(const StorePath&)>& add)>;

/// A cycle among `nodes` along `successors` (successors outside `nodes` and self-references are
/// ignored), as c0 -> … -> c0; empty when there is none. Iterative depth-first search, O(V + E).
std::vector<StorePath> find_cycle(const StorePathSet& nodes, const SuccessorsFn& successors);

} // namespace ferry
