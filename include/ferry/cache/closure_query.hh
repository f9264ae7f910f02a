#pragma once
/// Asking one substituter for the path infos of a closure, level after level with no barrier between
/// levels: each path's narinfo is requested the moment the path becomes known, and the references in
/// an answer are requested the moment it arrives. A closure of depth d costs d + 1 round trips (the
/// substituter's connection limit permitting), whatever its size.

#include <map>
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "ferry/cache/binary_cache.hh"
#include "ferry/store/store_path.hh"

namespace ferry {

struct ClosureInfos {
    /// Every path found, with its narinfo.
    std::map<StorePath, std::shared_ptr<const NarInfo>> infos;
    /// Paths the substituter does not have (their references are unknown).
    StorePathSet missing;
};

/// The narinfos of `roots` and, when `recursive`, of everything they refer to, transitively. Runs on
/// the substituter's loop thread. Throws the first error a query throws, once the queries in flight
/// have ended.
boost::asio::awaitable<ClosureInfos> query_closure(BinaryCache& cache, StorePathSet roots, bool recursive);

} // namespace ferry
