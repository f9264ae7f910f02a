#pragma once
/// A consistency check of a local store, for tests that interrupt or break ferry on purpose (there is
/// no `store verify` command yet): what a crash or a cancellation must never leave behind.

#include <string>
#include <vector>

#include "ferry/store/store_config.hh"

namespace ferry::test {

/// What is wrong with the store at `config`, one line per problem; empty when it is consistent:
/// - a valid path whose files are missing, or whose NAR hash or size differs from the database;
/// - a valid path with a reference that is not valid;
/// - an entry of the physical store directory that is not a valid path (a half-moved path);
/// - anything in the staging area but lock files (a staged download or build directory).
/// A store that was never created (no database) is consistent.
std::vector<std::string> store_problems(const StoreConfig& config);

} // namespace ferry::test
