/// Unpacking a NAR into the file system: a malformed archive leaves nothing behind and nothing is ever
/// created outside the destination; an accepted one dumps back to exactly the same bytes.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "ferry/store/nar_dump.hh"
#include "ferry/store/nar_restore.hh"
#include "ferry/util/error.hh"
#include "fuzz_support.hh"

namespace fs = std::filesystem;

namespace {

/// A private directory for this process, removed at exit.
struct Scratch {
    fs::path root;
    Scratch() {
        std::string tmpl = (fs::temp_directory_path() / "ferry-fuzz-restore-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) ferry::fuzz::violated("cannot create a scratch directory");
        root = tmpl;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ferry;
    static Scratch scratch;
    std::string_view nar = fuzz::as_text(data, size);
    fs::path dest = scratch.root / "out";
    bool accepted = false;
    try {
        restore_nar(nar, dest);
        accepted = true;
    } catch (const Error&) {
    }
    std::error_code ec;
    if (accepted) {
        std::string dumped;
        dump_path(dest, [&](std::string_view chunk) { dumped.append(chunk); });
        if (dumped != nar) fuzz::violated("a restored NAR does not dump back to the same bytes");
    } else if (fs::symlink_status(dest, ec).type() != fs::file_type::not_found) {
        fuzz::violated("a refused NAR left something at the destination");
    }
    // Nothing but the destination may ever appear in the scratch directory.
    for (const auto& entry : fs::directory_iterator(scratch.root))
        if (entry.path() != dest) fuzz::violated("the restore created something beside its destination");
    fs::remove_all(dest, ec);
    if (ec) fuzz::violated("cannot clean the destination");
    return 0;
}
