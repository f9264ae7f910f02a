#pragma once
/// Nix's automatic garbage collection (`min-free`, `max-free`): when the free space on the store's file
/// system is below min-free as a build starts, collect garbage until max-free bytes are free (or there
/// is none left). The free space is looked at every `interval` at most.
///
/// Threading: check() may be called from several threads at once; one collection runs at a time, and
/// the others skip (builds are not held up by a collection another build started). Blocking: check()
/// runs the collection on the calling thread (a pool thread of the scheduler).

#include <chrono>
#include <cstdint>
#include <mutex>

#include "ferry/store/gc.hh"

namespace ferry {

class AutoGc {
public:
    /// `options` gives keep-outputs / keep-derivations; refers to `store`, which must outlive it.
    AutoGc(LocalStore& store, uint64_t min_free, uint64_t max_free, std::chrono::seconds interval,
           GcOptions options);
    /// Collects when due (see above). A failing collection is a warning, never the build's failure.
    void check();
    /// Free bytes on the store's file system. Throws SysError.
    uint64_t available() const;

private:
    LocalStore& store_;
    uint64_t min_free_, max_free_;
    std::chrono::seconds interval_;
    GcOptions options_;
    std::mutex mutex_;
    std::chrono::steady_clock::time_point last_check_{};
    bool checked_ = false;
};

} // namespace ferry
