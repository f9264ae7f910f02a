#include "ferry/store/reference_scanner.hh"

#include "ferry/util/encoding.hh"

namespace ferry {

namespace {
constexpr size_t kLen = StorePath::kHashPartLength;
}

ReferenceScanner::ReferenceScanner(const StorePathSet& candidates) : candidates_(candidates) {
    for (const auto& p : candidates)
        wanted_.emplace(p.hash_part());
}

// A window can only hold a hash when all 32 bytes are nix32 characters; checking from the window's end
// lets one bad byte skip the scan past it, so most bytes are looked at once.
void ReferenceScanner::scan(std::string_view data) {
    size_t i = 0;
    while (i + kLen <= data.size()) {
        size_t j = kLen;
        while (j > 0 && is_nix32_char(data[i + j - 1]))
            --j;
        if (j > 0) {
            i += j;
            continue;
        }
        std::string candidate(data.substr(i, kLen));
        if (wanted_.count(candidate)) {
            seen_.insert(candidate);
            if (seen_.size() == wanted_.size()) {
                i = data.size();
                break;
            }
        }
        ++i;
    }
}

void ReferenceScanner::feed(std::string_view chunk) {
    if (wanted_.empty() || seen_.size() == wanted_.size()) return;
    if (!tail_.empty()) {
        // Hashes spanning the boundary: the previous tail plus the start of this chunk.
        std::string joint = tail_ + std::string(chunk.substr(0, kLen - 1));
        scan(joint);
    }
    scan(chunk);
    if (chunk.size() >= kLen - 1)
        tail_.assign(chunk.substr(chunk.size() - (kLen - 1)));
    else {
        tail_ += chunk;
        if (tail_.size() > kLen - 1) tail_.erase(0, tail_.size() - (kLen - 1));
    }
}

StorePathSet ReferenceScanner::found() const {
    StorePathSet out;
    for (const auto& p : candidates_)
        if (seen_.count(std::string(p.hash_part()))) out.insert(p);
    return out;
}

} // namespace ferry
