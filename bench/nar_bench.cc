// nar-bench: NAR dump + SHA-256 throughput of ferry's hash_path() against `nix-hash --type sha256` on
// the same tree, best of N runs with a warm page cache. See bench/README.md.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ferry/store/nar.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kTreeSize = 1024 * kMiB;
constexpr uint64_t kSeed = 0x6e61722d62656e63; // "nar-benc"

/// splitmix64: small, fast and the same everywhere, so the tree is the same on every machine.
struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
    uint64_t between(uint64_t lo, uint64_t hi) { return lo + next() % (hi - lo + 1); }
};

struct Options {
    fs::path dir = "/tmp/ferry-nar-bench-tree";
    bool generate = false;
    bool run_nix = true;
    int runs = 3;
    std::string nix_hash = "/usr/bin/nix-hash";
};

struct PlannedFile {
    fs::path path;
    uint64_t size;
    bool executable;
};

void write_random_file(const PlannedFile& f, Rng& rng, std::vector<uint64_t>& buf) {
    UniqueFd fd(::open(f.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, f.executable ? 0755 : 0644));
    if (!fd) throw SysError("creating '" + f.path.string() + "'");
    for (uint64_t left = f.size; left > 0;) {
        size_t n = size_t(std::min<uint64_t>(left, buf.size() * 8));
        for (size_t i = 0; i < (n + 7) / 8; ++i)
            buf[i] = rng.next();
        write_full(fd.get(), {reinterpret_cast<const char*>(buf.data()), n}, "'" + f.path.string() + "'");
        left -= n;
    }
}

/// The plan: nested directories, many small files, some medium, a few large, up to kTreeSize bytes.
std::vector<PlannedFile> plan_tree(const fs::path& root, Rng& rng, std::vector<fs::path>& dirs) {
    dirs = {root};
    std::vector<int> depth = {0};
    for (int i = 0; i < 400; ++i) {
        size_t parent = rng.next() % dirs.size();
        if (depth[parent] >= 7) parent = 0;
        dirs.push_back(dirs[parent] / fmt::format("{}dir{:03}", i % 5 == 0 ? "A" : "", i));
        depth.push_back(depth[parent] + 1);
    }
    std::vector<PlannedFile> files;
    uint64_t total = 0;
    auto add = [&](uint64_t size, std::string_view kind, bool executable) {
        size = std::min(size, kTreeSize - total);
        const auto& dir = dirs[rng.next() % dirs.size()];
        files.push_back({dir / fmt::format("{}-{:05}.{}", kind, files.size(), rng.next() % 2 ? "dat" : "Txt"),
                         size, executable});
        total += size;
    };
    for (int i = 0; i < 10; ++i)
        add(rng.between(16 * kMiB, 64 * kMiB), "large", false);
    for (int i = 0; i < 40000; ++i)
        add(rng.between(100, 8192), "small", rng.next() % 20 == 0);
    while (total < kTreeSize)
        add(rng.between(64 * 1024, kMiB), "medium", rng.next() % 10 == 0);
    return files;
}

void generate_tree(const fs::path& dir) {
    if (fs::exists(dir)) {
        fmt::print("using the existing tree {}\n", dir.string());
        return;
    }
    fs::path tmp = dir;
    tmp += fmt::format(".tmp-{}", ::getpid());
    fmt::print("generating a 1 GiB tree in {} ...\n", dir.string());
    std::fflush(stdout);
    Rng rng{kSeed};
    std::vector<fs::path> dirs;
    auto files = plan_tree(tmp, rng, dirs);
    for (const auto& d : dirs)
        fs::create_directories(d);
    std::vector<uint64_t> buf(kMiB / 8);
    for (const auto& f : files)
        write_random_file(f, rng, buf);
    for (int i = 0; i < 500; ++i) {
        const auto& dir = dirs[rng.next() % dirs.size()];
        // Every fifth link dangles; the others point at a file of the tree, relative to the root.
        std::string target = i % 5 == 0 ? fmt::format("missing-{}", i)
                                        : fs::relative(files[rng.next() % files.size()].path, tmp).string();
        fs::create_symlink(target, dir / fmt::format("link-{:03}", i));
    }
    fs::rename(tmp, dir);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Runs `nix-hash --type sha256 DIR`; returns its output line (base16) and the wall-clock time.
std::pair<std::string, double> run_nix_hash(const Options& opts, const fs::path& dir) {
    std::string cmd = fmt::format("'{}' --type sha256 '{}'", opts.nix_hash, dir.string());
    auto start = std::chrono::steady_clock::now();
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) throw SysError("running " + cmd);
    std::string out;
    char buf[256];
    while (size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    int status = ::pclose(p);
    double secs = seconds_since(start);
    if (status != 0) throw Error("'{}' failed with status {}", cmd, status);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return {out, secs};
}

Options parse_args(int argc, char** argv) {
    Options opts;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError("{} needs a value", arg);
            return argv[++i];
        };
        if (arg == "--generate") {
            opts.generate = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') opts.dir = argv[++i];
        } else if (arg == "--dir") {
            opts.dir = value();
        } else if (arg == "--runs") {
            opts.runs = std::max(1, std::atoi(value().c_str()));
        } else if (arg == "--no-nix") {
            opts.run_nix = false;
        } else if (arg == "--nix-hash") {
            opts.nix_hash = value();
        } else {
            throw UsageError(
                "usage: nar-bench [--generate [DIR]] [--dir DIR] [--runs N] [--no-nix] [--nix-hash PATH]");
        }
    }
    return opts;
}

/// ferry's NAR hash on the calling thread alone: the dump's pieces hashed as they come.
NarHashResult hash_path_one_thread(const fs::path& dir) {
    HashSink hash(HashAlgo::sha256);
    dump_path(dir, [&](std::string_view chunk) { hash.update(chunk); });
    uint64_t size = hash.bytes();
    return {hash.finish(), size};
}

/// Best-of-N wall-clock seconds of each contender.
struct Timings {
    double ferry = 1e30;
    double ferry_one_thread = 1e30;
    double nix = 1e30;
    std::string nix_hash;
};

Timings measure(const Options& opts, const NarHashResult& reference) {
    double nar_mb = double(reference.nar_size) / 1e6;
    auto timed_ferry = [&](auto&& hash_fn, double& best) {
        auto start = std::chrono::steady_clock::now();
        auto result = hash_fn(opts.dir);
        double secs = seconds_since(start);
        if (result.hash != reference.hash || result.nar_size != reference.nar_size)
            throw Error("ferry's NAR hash changed between runs");
        best = std::min(best, secs);
        return secs;
    };
    Timings t;
    for (int run = 0; run < opts.runs; ++run) {
        double secs = timed_ferry([](const fs::path& p) { return hash_path(HashAlgo::sha256, p); }, t.ferry);
        double one = timed_ferry(hash_path_one_thread, t.ferry_one_thread);
        fmt::print("  run {}: ferry {:.3f} s ({:.0f} MB/s), one thread {:.3f} s ({:.0f} MB/s)", run + 1, secs,
                   nar_mb / secs, one, nar_mb / one);
        if (opts.run_nix) {
            auto [hash, nix_secs] = run_nix_hash(opts, opts.dir);
            t.nix_hash = hash;
            t.nix = std::min(t.nix, nix_secs);
            fmt::print(", nix-hash {:.3f} s ({:.0f} MB/s)", nix_secs, nar_mb / nix_secs);
        }
        fmt::print("\n");
    }
    return t;
}

int run(const Options& opts) {
    if (opts.generate) generate_tree(opts.dir);
    if (!fs::is_directory(opts.dir))
        throw UsageError("no tree at '{}'; run with --generate", opts.dir.string());

    // Also warms the page cache, so that every contender reads from memory.
    auto reference = hash_path(HashAlgo::sha256, opts.dir);
    double nar_mb = double(reference.nar_size) / 1e6;
    fmt::print("tree {}: NAR size {} bytes\n", opts.dir.string(), reference.nar_size);
    Timings t = measure(opts, reference);
    fmt::print("ferry    sha256 {}  best {:.3f} s  {:.0f} MB/s (one thread: {:.3f} s  {:.0f} MB/s)\n",
               reference.hash.to_base16(), t.ferry, nar_mb / t.ferry, t.ferry_one_thread,
               nar_mb / t.ferry_one_thread);
    if (!opts.run_nix) return 0;
    fmt::print("nix-hash sha256 {}  best {:.3f} s  {:.0f} MB/s\n", t.nix_hash, t.nix, nar_mb / t.nix);
    fmt::print("ratio ferry/nix-hash throughput: {:.2f}x (one thread: {:.2f}x)\n", t.nix / t.ferry,
               t.nix / t.ferry_one_thread);
    // nix-hash's times include starting the process; show how much that is.
    TempDir tiny;
    write_file_atomic(tiny.path() / "f", "x");
    double startup = 1e30;
    for (int i = 0; i < 3; ++i)
        startup = std::min(startup, run_nix_hash(opts, tiny.path()).second);
    fmt::print("(nix-hash start-up, included above: {:.3f} s)\n", startup);
    if (t.nix_hash != reference.hash.to_base16()) {
        fmt::print("HASH MISMATCH between ferry and nix-hash\n");
        return 1;
    }
    fmt::print("hashes agree\n");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(parse_args(argc, argv));
    } catch (const UsageError& e) {
        fmt::print(stderr, "nar-bench: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "nar-bench: {}\n", e.what());
        return 1;
    }
}
