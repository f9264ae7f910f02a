#pragma once
/// Finds which store paths a file tree refers to: looks for their 32-character hash parts in a byte
/// stream (the tree's NAR), chunk boundaries included. Pure; one object per scan.

#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include "ferry/store/store_path.hh"

namespace ferry {

class ReferenceScanner {
public:
    /// Looks for the hash parts of `candidates`.
    explicit ReferenceScanner(const StorePathSet& candidates);

    void feed(std::string_view chunk);
    /// The candidates whose hash part occurred.
    StorePathSet found() const;

private:
    void scan(std::string_view data);

    std::unordered_set<std::string> wanted_;
    std::set<std::string> seen_;
    StorePathSet candidates_;
    std::string tail_; ///< the last bytes of the previous chunk, for hashes across a boundary
};

} // namespace ferry
