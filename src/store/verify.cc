#include "ferry/store/verify.hh"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <unordered_set>

#include "ferry/store/canonicalise.hh"
#include "ferry/store/gc.hh"
#include "ferry/store/nar.hh"
#include "ferry/store/store_graph.hh"
#include "ferry/util/events.hh"

namespace fs = std::filesystem;

namespace ferry {

namespace {

std::unordered_set<std::string> store_entries(const fs::path& dir) {
    std::unordered_set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
        names.insert(e.path().filename().string());
    return names;
}

/// Compares the files of `path` with the recorded hash and size.
std::optional<VerifyProblem> check_contents(LocalStore& store, const StorePath& path, const Hash& expected,
                                            uint64_t expected_size) {
    using Kind = VerifyProblem::Kind;
    NarHashResult got;
    try {
        got = hash_path(expected.algo, store.real_path(path));
    } catch (const Error& e) {
        return VerifyProblem{Kind::unreadable, path,
                             fmt::format("path '{}' cannot be read: {}", store.print(path), e.what())};
    }
    if (got.hash != expected)
        return VerifyProblem{Kind::modified, path,
                             fmt::format("path '{}' was modified! expected hash '{}', got '{}'",
                                         store.print(path), expected.to_nix32_prefixed(),
                                         got.hash.to_nix32_prefixed())};
    if (expected_size != 0 && got.nar_size != expected_size)
        return VerifyProblem{
            Kind::size_mismatch, path,
            fmt::format("path '{}' has NAR size {} in the database, but its contents are {} bytes",
                        store.print(path), expected_size, got.nar_size)};
    return std::nullopt;
}

VerifyProblem disappeared(LocalStore& store, const StorePath& path) {
    return VerifyProblem{VerifyProblem::Kind::disappeared, path,
                         fmt::format("path '{}' disappeared", store.print(path))};
}

/// Hashes the paths of `todo` on `threads` threads; one optional problem per path.
std::vector<std::optional<VerifyProblem>> check_all(LocalStore& store, const StoreGraph& g,
                                                    const std::vector<uint32_t>& todo, unsigned threads) {
    std::vector<std::optional<VerifyProblem>> found(todo.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t k; (k = next.fetch_add(1)) < todo.size();) {
            uint32_t i = todo[k];
            try {
                found[k] = check_contents(store, g.paths[i], Hash::parse(g.nar_hash[i]), g.nar_size[i]);
            } catch (const std::exception& e) {
                found[k] = VerifyProblem{
                    VerifyProblem::Kind::unreadable, g.paths[i],
                    fmt::format("path '{}' cannot be checked: {}", store.print(g.paths[i]), e.what())};
            }
        }
    };
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t)
        pool.emplace_back(work);
    work();
    return found;
}

} // namespace

VerifyReport verify_store(LocalStore& store, const VerifyOptions& options) {
    GcLock lock = GcLock::shared(store.config()); // a consistent view: no collection deletes meanwhile
    log_at(Level::talkative, "reading the store...");
    auto entries = store_entries(store.config().real_store_dir());
    StoreGraph g = store.load_graph();
    VerifyReport report;
    report.paths = g.size();
    log_at(Level::talkative, "checking path existence...");
    std::vector<uint32_t> present;
    for (uint32_t i = 0; i < g.size(); ++i) {
        if (!entries.contains(g.paths[i].to_string()))
            report.problems.push_back(disappeared(store, g.paths[i]));
        else
            present.push_back(i);
    }
    for (const auto& [from, id] : g.dangling)
        report.problems.push_back(
            VerifyProblem{VerifyProblem::Kind::dangling_reference, g.paths[from],
                          fmt::format("path '{}' refers to invalid path (row {} of the database is gone)",
                                      store.print(g.paths[from]), id)});
    if (options.check_contents) {
        log_at(Level::talkative, "checking store hashes...");
        unsigned threads =
            options.threads ? options.threads : std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
        for (auto& p : check_all(store, g, present, threads))
            if (p) report.problems.push_back(std::move(*p));
    }
    report.leftovers = find_invalid_entries(store, g);
    std::stable_sort(report.problems.begin(), report.problems.end(),
                     [](const auto& a, const auto& b) { return a.path < b.path; });
    return report;
}

std::optional<VerifyProblem> verify_path(LocalStore& store, const StorePath& path, bool contents) {
    auto info = store.require_path_info(path);
    struct stat st;
    if (::lstat(store.real_path(path).c_str(), &st) != 0) return disappeared(store, path);
    if (!contents) return std::nullopt;
    return check_contents(store, path, info.nar_hash, info.nar_size);
}

void replace_path_contents(LocalStore& store, const StorePath& path, StagedPath& staged) {
    PathLock lock = store.lock_path(path);
    replace_locked_path_contents(store, path, staged);
}

void replace_locked_path_contents(LocalStore& store, const StorePath& path, StagedPath& staged) {
    with_context("repairing '" + store.print(path) + "'", [&] {
        auto info = store.require_path_info(path);
        canonicalise_path(staged.path());
        auto got = hash_path(info.nar_hash.algo, staged.path());
        if (got.hash != info.nar_hash || (info.nar_size && got.nar_size != info.nar_size))
            throw HashMismatch("the new contents have NAR hash {} ({} bytes), not {} ({} bytes) as recorded",
                               got.hash.to_nix32_prefixed(), got.nar_size, info.nar_hash.to_nix32_prefixed(),
                               info.nar_size);
        fs::path real = store.real_path(path);
        struct stat st;
        if (::lstat(real.c_str(), &st) != 0) {
            if (errno != ENOENT) throw SysError("getting status of '" + real.string() + "'");
            staged.commit(real);
            return;
        }
        // Directories that change parents must be writable (their ".." changes); made read-only again.
        struct stat new_st;
        ::lstat(staged.path().c_str(), &new_st);
        bool dirs = S_ISDIR(st.st_mode) || S_ISDIR(new_st.st_mode);
        if (S_ISDIR(st.st_mode)) ::chmod(real.c_str(), 0755);
        if (S_ISDIR(new_st.st_mode)) ::chmod(staged.path().c_str(), 0755);
        if (::renameat2(AT_FDCWD, staged.path().c_str(), AT_FDCWD, real.c_str(), RENAME_EXCHANGE) != 0)
            throw SysError("swapping '" + real.string() + "' with its new contents");
        if (dirs && S_ISDIR(new_st.st_mode)) ::chmod(real.c_str(), 0555);
    });
}

} // namespace ferry
