#include "ferry/store/scratch_dir.hh"

#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <string>

#include "ferry/store/staged_path.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;

namespace ferry {

ScratchDir::ScratchDir(const fs::path& staging_dir, const fs::path& parent, std::string_view prefix) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    auto dir = fs::absolute(parent);
    for (int attempt = 0; attempt < 100; ++attempt) {
        fs::path p = dir / (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
                            std::to_string(rng() % 1000000000));
        // The claim first: a kill between the two leaves a claim of nothing, never an unclaimed dir.
        fs::path claim = staging_dir / staging_entry_name(staging_dir, "scratch");
        if (::symlink(p.c_str(), claim.c_str()) != 0)
            throw SysError("claiming scratch directory '" + p.string() + "' at '" + claim.string() + "'");
        if (::mkdir(p.c_str(), 0700) == 0) {
            path_ = std::move(p);
            claim_ = std::move(claim);
            return;
        }
        int err = errno;
        ::unlink(claim.c_str());
        if (err != EEXIST) throw SysError(err, "creating temporary directory '" + p.string() + "'");
    }
    throw Error("cannot create a temporary directory under '{}'", dir.string());
}

ScratchDir::ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)), claim_(std::move(o.claim_)) {
    o.path_.clear();
    o.claim_.clear();
}

ScratchDir::~ScratchDir() {
    if (path_.empty()) return;
    try {
        delete_path(path_);
        ::unlink(claim_.c_str());
    } catch (...) {
        // The claim stays: clean_stale_staging() removes both once this process is gone.
    }
}

fs::path ScratchDir::release() {
    if (!claim_.empty()) ::unlink(claim_.c_str());
    claim_.clear();
    auto p = std::move(path_);
    path_.clear();
    return p;
}

} // namespace ferry
