#pragma once
/// A generated store for garbage-collection tests and benchmarks: `live` paths that one gcroots link
/// keeps alive (path i refers to i - 1 and i / 2, so the last one's closure is all of them) and
/// `garbage` paths that nothing roots (each refers to the one before it and to a live path). Every path
/// is a small regular file with its true NAR hash, registered straight into the database in batches.

#include <cstddef>
#include <string>
#include <vector>

#include "ferry/store/local_store.hh"

namespace ferry::test {

struct GeneratedStore {
    std::vector<StorePath> live;
    std::vector<StorePath> garbage;
};

/// Fills `store` as described above; the root link is gcroots/<prefix>generated (none when `live` is 0).
/// `prefix` starts every name, so that a store can be filled more than once.
GeneratedStore generate_store(LocalStore& store, size_t live, size_t garbage, const std::string& prefix = "");

} // namespace ferry::test
