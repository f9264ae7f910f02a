// LocalStore: making paths valid (the staging flow) and the operations that add or read contents.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "ferry/store/canonicalise.hh"
#include "ferry/store/content_address.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

constexpr size_t kCopyBufferSize = 256 * 1024;

// Copies the regular file `src` (symlinks followed) to the new file `dest`, returning the sha256 of
// its contents.
Hash copy_file_hashing(const fs::path& src, const fs::path& dest) {
    UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) throw SysError("opening '" + src.string() + "'");
    struct stat st;
    if (::fstat(in.get(), &st) != 0) throw SysError("getting status of '" + src.string() + "'");
    if (!S_ISREG(st.st_mode))
        throw Error("'{}' is not a regular file (flat ingestion takes one file)", src.string());
    UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!out) throw SysError("creating '" + dest.string() + "'");
    HashSink hash(HashAlgo::sha256);
    auto buf = std::make_unique<char[]>(kCopyBufferSize);
    for (;;) {
        size_t n = read_full(in.get(), {buf.get(), kCopyBufferSize}, "'" + src.string() + "'");
        std::string_view chunk(buf.get(), n);
        hash.update(chunk);
        write_full(out.get(), chunk, "'" + dest.string() + "'");
        if (n < kCopyBufferSize) break;
    }
    return hash.finish();
}

void write_new_file(const fs::path& dest, std::string_view contents) {
    UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!out) throw SysError("creating '" + dest.string() + "'");
    write_full(out.get(), contents, "'" + dest.string() + "'");
}

// The caller's context names the path.
void check_nar(const ValidPathInfo& expected, const NarHashResult& got) {
    if (got.hash != expected.nar_hash)
        throw HashMismatch("NAR hash mismatch: expected {}, got {}",
                           expected.nar_hash.to_string(HashFormat::sri), got.hash.to_string(HashFormat::sri));
    if (expected.nar_size != 0 && got.nar_size != expected.nar_size)
        throw HashMismatch("NAR size mismatch: expected {} bytes, got {}", expected.nar_size, got.nar_size);
}

// Feeds `source` to `parser` until the end of the stream.
template <typename Parser> void feed_all(const ByteSource& source, Parser& parser) {
    auto buf = std::make_unique<char[]>(kCopyBufferSize);
    while (size_t n = source({buf.get(), kCopyBufferSize}))
        parser.feed(std::string_view(buf.get(), n));
}

} // namespace

// --- Locks and staging ---------------------------------------------------------------------------

PathLock LocalStore::lock_path(const StorePath& path) {
    return PathLock::acquire(lock_file(path));
}

std::optional<PathLock> LocalStore::try_lock_path(const StorePath& path) {
    return PathLock::try_acquire(lock_file(path));
}

std::vector<PathLock> LocalStore::lock_paths(const StorePathSet& paths) {
    std::vector<fs::path> files;
    for (const auto& p : paths)
        files.push_back(lock_file(p));
    return acquire_all(std::move(files));
}

StagedPath LocalStore::stage(std::string_view name) {
    return StagedPath(config_.staging_dir(), name);
}

void LocalStore::sync_store_files() {
    UniqueFd fd(::open(real_store_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::syncfs(fd.get()) != 0)
        throw SysError("syncing the store at '" + real_store_dir_.string() + "'");
}

void LocalStore::move_into_place(StagedPath& staged, const StorePath& path) {
    if (is_valid_path(path)) throw Error("'{}' is already valid; its files are never replaced", print(path));
    fs::path dest = real_path(path);
    // Files of an invalid path are leftovers of a crash between rename and registration.
    delete_path(dest);
    staged.commit(dest);
}

void LocalStore::commit_staged(std::vector<StagedOutput> outputs) {
    for (auto& out : outputs)
        with_context("finishing '" + print(out.info.path) + "'", [&] {
            canonicalise_path(out.staged->path());
            if (!out.hash_known) {
                auto r = hash_path(HashAlgo::sha256, out.staged->path());
                out.info.nar_hash = r.hash;
                out.info.nar_size = r.nar_size;
            }
        });
    std::vector<StorePath> moved;
    try {
        std::vector<ValidPathInfo> infos;
        for (auto& out : outputs) {
            move_into_place(*out.staged, out.info.path);
            moved.push_back(out.info.path);
            infos.push_back(out.info);
        }
        register_valid_paths(infos);
    } catch (...) {
        for (const auto& p : moved)
            try {
                if (!is_valid_path(p)) delete_path(real_path(p));
            } catch (...) {
                // Left for the next attempt, which deletes stale files of invalid paths.
            }
        throw;
    }
}

// --- Adding contents ------------------------------------------------------------------------------

StorePath LocalStore::add_to_store(const fs::path& src, FileIngestionMethod method, std::string_view name) {
    return with_context("adding '" + src.string() + "' to the store", [&] {
        check_store_path_name(name);
        StagedPath staged = stage(name);
        Hash content;
        std::optional<NarHashResult> nar;
        if (method == FileIngestionMethod::recursive) {
            // One pass: the dump of `src` is unpacked into staging and hashed at the same time.
            NarRestorer restorer(staged.path());
            HashingNarParser parser(restorer, HashAlgo::sha256);
            dump_path(src, [&](std::string_view chunk) { parser.feed(chunk); });
            nar = parser.finish();
            restorer.commit();
            content = nar->hash;
        } else {
            content = copy_file_hashing(src, staged.path());
        }
        StorePath path = store_dir_.make_fixed_output_path(method, content, name);
        PathLock lock = lock_path(path);
        if (is_valid_path(path)) return path;
        ValidPathInfo info(path);
        if (nar) {
            info.nar_hash = nar->hash;
            info.nar_size = nar->nar_size;
        }
        // Like Nix, an added path is not "ultimate": that mark is for built paths.
        info.ca = fixed_output_ca(method, content);
        commit_staged({{&staged, std::move(info), nar.has_value()}});
        return path;
    });
}

StorePath LocalStore::add_text(std::string_view name, std::string_view contents,
                               const StorePathSet& references) {
    StorePath path = store_dir_.make_text_path(name, contents, references);
    return with_context("adding text file '" + print(path) + "'", [&] {
        // Its references and itself are this process's roots before anything looks at their validity.
        StorePathSet roots = references;
        roots.insert(path);
        add_temp_roots(roots);
        if (is_valid_path(path)) return path;
        PathLock lock = lock_path(path);
        if (is_valid_path(path)) return path;
        StagedPath staged = stage(name);
        write_new_file(staged.path(), contents);
        ValidPathInfo info(path);
        info.references = references;
        info.ca = text_ca(hash_string(HashAlgo::sha256, contents));
        commit_staged({{&staged, std::move(info), false}});
        return path;
    });
}

void LocalStore::import_nar(const ByteSource& source, ValidPathInfo expected) {
    with_context("importing '" + print(expected.path) + "'", [&] {
        PathLock lock = lock_path(expected.path);
        import_locked(source, expected);
    });
}

void LocalStore::import_locked(const ByteSource& source, ValidPathInfo& expected) {
    if (is_valid_path(expected.path)) {
        NullNarVisitor nowhere;
        HashingNarParser parser(nowhere, HashAlgo::sha256);
        feed_all(source, parser);
        check_nar(expected, parser.finish());
        return;
    }
    // Missing references are found before the stream is unpacked (registration checks again); they are
    // this process's roots first, so that no collection takes them before the path refers to them.
    add_temp_roots(expected.references);
    StorePathSet others = expected.references;
    others.erase(expected.path);
    StorePathSet valid = query_valid_paths(others);
    for (const auto& ref : others)
        if (!valid.contains(ref)) throw InvalidPath("its reference '{}' is not valid", print(ref));
    StagedPath staged = stage(expected.path.name());
    NarRestorer restorer(staged.path());
    HashingNarParser parser(restorer, HashAlgo::sha256);
    feed_all(source, parser);
    auto got = parser.finish();
    check_nar(expected, got);
    restorer.commit();
    expected.nar_hash = got.hash;
    expected.nar_size = got.nar_size;
    commit_staged({{&staged, std::move(expected), true}});
}

void LocalStore::import_nar(int fd, ValidPathInfo expected) {
    import_nar([fd](std::span<char> buf) { return read_full(fd, buf, "the NAR stream"); },
               std::move(expected));
}

void LocalStore::dump(const StorePath& path, const NarSink& sink) {
    if (!is_valid_path(path)) throw InvalidPath("path '{}' is not valid", print(path));
    dump_path(real_path(path), sink);
}

} // namespace ferry
