/// cache-bench: the binary cache substituter against the test HTTP server on 127.0.0.1.
///
///   cache-bench narinfo [--paths N] [--connections N] [--delays MS,MS]
///       Queries a synthetic closure (a root referring to N paths) through BinaryCache + query_closure,
///       cold (no disk cache), with the server waiting 0 ms and 100 ms before each answer; prints
///       requests/s, the client's and the server's peak concurrency, and the floor that round trips and
///       the connection limit set: (1 + ceil(N / connections)) × delay.
///   cache-bench nar [--dir DIR] [--mib N] [--runs N] [--methods xz|zstd]
///       Copies a generated cache of N MiB of NARs (xz and zstd; generated once under DIR) into a fresh
///       store through the scheduler: download + decompression + NAR hashing + unpacking + registration.
///       Prints NAR MB/s and compressed MB/s (best run), next to one thread decompressing and hashing the
///       same files from memory.
///   cache-bench dry-run [--runs N] [--keep 1]
///       Times `ferry build --dry-run` (the whole process) of a 1,055-path closure: once cold, then warm
///       (answered by the narinfo disk cache) N times; prints the best and the median warm run.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cache/cache_support.hh"
#include "ferry/cache/closure_query.hh"
#include "ferry/cache/open_substituters.hh"
#include "ferry/sched/local_store_view.hh"
#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/compression.hh"
#include "ferry/util/file.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace ferry;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// "--name value" options after the mode.
std::map<std::string, std::string> parse_options(int argc, char** argv) {
    std::map<std::string, std::string> out;
    for (int i = 2; i < argc; i += 2) {
        std::string_view name = argv[i];
        if (!name.starts_with("--") || i + 1 >= argc)
            throw UsageError("expected '--option value', got '{}'", name);
        out[std::string(name.substr(2))] = argv[i + 1];
    }
    return out;
}

unsigned number(const std::map<std::string, std::string>& o, const std::string& name, unsigned fallback) {
    auto it = o.find(name);
    if (it == o.end()) return fallback;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    if (ec != std::errc() || end != it->second.data() + it->second.size())
        throw UsageError("--{}: '{}' is not a number", name, it->second);
    return value;
}

/// Runs `task` on `io` to completion.
template <typename T> T run(asio::io_context& io, asio::awaitable<T> task) {
    auto done = asio::co_spawn(io, std::move(task), asio::use_future);
    io.restart();
    io.run();
    return done.get();
}

/// The test server's URL without its trailing '/'.
std::string base_url(const test::HttpServer& server) {
    std::string url = server.url("/");
    url.pop_back();
    return url;
}

// --- narinfo ------------------------------------------------------------------------------------------

void bench_narinfo(const std::map<std::string, std::string>& o) {
    unsigned paths = number(o, "paths", 3000), connections = number(o, "connections", 150);
    std::vector<unsigned> delays{0, 100};
    if (o.count("delays")) {
        delays.clear();
        std::string_view v = o.at("delays");
        for (size_t start = 0; start <= v.size();) {
            size_t comma = std::min(v.find(',', start), v.size());
            delays.push_back(unsigned(std::stoul(std::string(v.substr(start, comma - start)))));
            start = comma + 1;
        }
    }
    TempDir tmp;
    auto key = SecretKey::generate("bench-1");
    auto tree = test::synthetic_tree("narinfo-bench", 1, paths, 0);
    test::write_synthetic_cache(tmp.path() / "cache", tree, key, "none");
    fmt::print("narinfo: a root and {} references, http-connections = {}, cold (no disk cache)\n", paths,
               connections);
    for (unsigned delay : delays) {
        test::HttpServer server(tmp.path() / "cache");
        server.set_default_fault({.delay = std::chrono::milliseconds(delay)});
        asio::io_context io{1};
        asio::thread_pool pool{2};
        Settings settings;
        settings.http_connections = connections;
        settings.trusted_public_keys = {key.public_key().to_string()};
        unsigned client_peak = 0;
        auto start = Clock::now();
        auto task = [&]() -> asio::awaitable<size_t> {
            auto context = make_binary_cache_context(settings, StoreDir(), io.get_executor(), pool, nullptr);
            context->disk_cache = nullptr;
            BinaryCache cache(base_url(server), context);
            co_await cache.init();
            StorePathSet roots{tree[0].path};
            ClosureInfos found = co_await query_closure(cache, roots, true);
            client_peak = context->http().counters().peak_active;
            co_return found.infos.size();
        };
        size_t found = run(io, task());
        double secs = seconds_since(start);
        double floor = (1 + (paths + connections - 1) / connections) * delay / 1000.0;
        fmt::print(
            "  delay {:3} ms: {:5} narinfos in {:6.3f} s = {:7.0f} requests/s; peak {} (client) {} (server); "
            "floor {:.3f} s{}\n",
            delay, found, secs, double(server.requests()) / secs, client_peak, server.peak_in_flight(), floor,
            delay ? fmt::format(" ({:.0f} % of it)", 100 * floor / secs) : "");
        pool.join();
    }
}

// --- nar ----------------------------------------------------------------------------------------------

/// Bytes that compress about as well as binaries do (3-4x): words from a small vocabulary, with numbers.
std::string semi_compressible(size_t size, uint64_t seed) {
    static const char* words[] = {"lib",   "nix",   "store",        "gcc",     "glibc", "x86_64",
                                  "linux", "share", "bin",          "include", "main",  "init",
                                  "ELF",   "\x7f",  "\x00\x00\x00", "push",    "mov"};
    std::string out;
    out.reserve(size + 32);
    uint64_t x = seed * 2654435761u + 1;
    while (out.size() < size) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out += words[x % std::size(words)];
        if (x % 3 == 0) out += std::to_string(x % 100000);
        out += char(x >> 56);
    }
    out.resize(size);
    return out;
}

/// The paths of the generated cache: `mib` MiB of NARs, 4 MiB each; their contents only when `contents`.
std::vector<test::SyntheticPath> generated_paths(unsigned mib, bool contents) {
    std::vector<test::SyntheticPath> out;
    for (unsigned i = 0; i < mib / 4; ++i)
        out.push_back({test::synthetic_store_path("nar-bench-" + std::to_string(i)),
                       {},
                       contents ? semi_compressible(4 << 20, i) : std::string()});
    return out;
}

/// Writes the cache of `mib` MiB compressed with `method` at `dir` when missing (into a temporary name
/// first, so an interrupted run leaves no half cache).
void ensure_cache(const fs::path& dir, const std::string& method, unsigned mib, const SecretKey& key) {
    if (fs::exists(dir / "nix-cache-info")) return;
    auto paths = generated_paths(mib, true);
    fmt::print("generating {} ({} NARs, {}) ...\n", dir.string(), paths.size(), method);
    std::fflush(stdout);
    fs::path tmp = dir.string() + ".tmp";
    fs::remove_all(tmp);
    test::write_synthetic_cache(tmp, paths, key, method);
    write_file_atomic(tmp / "bench-key", key.to_string());
    fs::remove_all(dir);
    fs::rename(tmp, dir);
}

/// One thread: decompress + SHA-256 of the NAR + SHA-256 of the file, from memory (no HTTP, no disk).
double single_thread_floor(const fs::path& dir, uint64_t& nar_bytes) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir / "nar"))
        files.push_back(read_file(e.path()));
    std::string method = dir.filename().string();
    auto start = Clock::now();
    nar_bytes = 0;
    for (const auto& f : files) {
        HashSink nar(HashAlgo::sha256);
        auto d = make_decompressor(method, [&](std::string_view s) { nar.update(s); });
        d->feed(f);
        d->finish();
        nar_bytes += nar.bytes();
        (void)nar.finish();
        (void)hash_string(HashAlgo::sha256, f);
    }
    return seconds_since(start);
}

double copy_once(const fs::path& dir, const std::vector<test::SyntheticPath>& paths, const std::string& key,
                 uint64_t& compressed) {
    TempDir tmp;
    ::setenv("XDG_CACHE_HOME", (tmp.path() / "xdg").c_str(), 1);
    LocalStore store(StoreConfig{.root = tmp.path() / "root"});
    test::HttpServer server(dir);
    asio::io_context io{1};
    asio::thread_pool pool{2};
    Settings settings;
    settings.trusted_public_keys = {key};
    auto start = Clock::now();
    auto task = [&]() -> asio::awaitable<void> {
        auto context =
            make_binary_cache_context(settings, store.store_dir(), io.get_executor(), pool, nullptr);
        BinaryCache cache(base_url(server), context);
        co_await cache.init();
        Progress progress;
        LocalStoreView view(store, pool);
        Worker worker(io, pool, view, {&cache}, nullptr, WorkerOptions{}, progress);
        std::vector<Target> targets;
        for (const auto& p : paths)
            targets.push_back(Target{p.path, {}});
        co_await worker.realise(targets);
        compressed = context->http().counters().bytes;
    };
    run(io, task());
    double secs = seconds_since(start);
    pool.join();
    return secs;
}

void bench_nar(const std::map<std::string, std::string>& o) {
    fs::path base = o.count("dir") ? fs::path(o.at("dir")) : fs::path("/tmp/ferry-cache-bench");
    unsigned mib = number(o, "mib", 200), runs = number(o, "runs", 3);
    auto paths = generated_paths(mib, false);
    std::vector<std::string> methods{"xz", "zstd"};
    if (o.count("methods")) methods = {o.at("methods")};
    for (const std::string& method : methods) {
        fs::path dir = base / method;
        auto key = fs::exists(dir / "bench-key") ? SecretKey::parse(read_file(dir / "bench-key"))
                                                 : SecretKey::generate("nar-bench-1");
        ensure_cache(dir, method, mib, key);
        uint64_t nar_bytes = 0, compressed = 0;
        double floor = single_thread_floor(dir, nar_bytes);
        double best = 1e9;
        for (unsigned r = 0; r < runs; ++r)
            best = std::min(best, copy_once(dir, paths, key.public_key().to_string(), compressed));
        fmt::print(
            "nar {:4}: {} NARs, {:.0f} MB NAR, {:.0f} MB compressed: best {:.3f} s = {:6.1f} MB/s NAR, "
            "{:6.1f} MB/s compressed (one thread decompress+hash from memory: {:6.1f} MB/s NAR)\n",
            method, paths.size(), nar_bytes / 1e6, compressed / 1e6, best, nar_bytes / 1e6 / best,
            compressed / 1e6 / best, nar_bytes / 1e6 / floor);
    }
}

// --- dry-run ------------------------------------------------------------------------------------------

/// Runs `ferry args…` with stdout/stderr to /dev/null; returns the wall time in seconds.
double time_ferry(const std::vector<std::string>& args) {
    std::vector<std::string> command{(test::build_root() / "src" / "cli" / "ferry").string()};
    command.insert(command.end(), args.begin(), args.end());
    auto start = Clock::now();
    int status = test::wait_command(test::spawn_command(command, "/dev/null", "/dev/null", "/dev/null"));
    double secs = seconds_since(start);
    if (status != 0) throw Error("ferry {} failed", fmt::join(args, " "));
    return secs;
}

void bench_dry_run(const std::map<std::string, std::string>& o) {
    unsigned runs = number(o, "runs", 20);
    TempDir tmp;
    auto key = SecretKey::generate("dry-run-bench-1");
    auto tree = test::synthetic_tree("dry-run-bench", 2, 34, 30); // 1 + 34 + 1020 = 1,055 paths
    test::write_synthetic_cache(tmp.path() / "cache", tree, key, "xz");
    test::HttpServer server(tmp.path() / "cache");
    ::setenv("XDG_CACHE_HOME", (tmp.path() / "xdg-cache").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp.path() / "config").c_str(), 1);
    fs::create_directories(tmp.path() / "config" / "ferry");
    write_file_atomic(tmp.path() / "config" / "ferry" / "ferry.conf",
                      fmt::format("substituters = {}\ntrusted-public-keys = {}\n", base_url(server),
                                  key.public_key().to_string()));
    std::vector<std::string> args{"--store", (tmp.path() / "root").string(), "build", "--dry-run",
                                  StoreDir().print(tree[0].path)};
    double cold = time_ferry(args);
    uint64_t cold_requests = server.requests();
    std::vector<double> warm;
    for (unsigned i = 0; i < runs; ++i)
        warm.push_back(time_ferry(args));
    std::sort(warm.begin(), warm.end());
    if (o.count("keep")) {
        fmt::print("kept {} (server gone): XDG_CACHE_HOME={} XDG_CONFIG_HOME={} ferry {}\n",
                   tmp.path().string(), (tmp.path() / "xdg-cache").string(), (tmp.path() / "config").string(),
                   fmt::join(args, " "));
        tmp.release();
    }
    fmt::print("dry-run of {} paths: cold {:.1f} ms ({} requests); warm best {:.1f} ms, median {:.1f} ms, "
               "worst {:.1f} ms ({} runs, {} requests)\n",
               tree.size(), cold * 1e3, cold_requests, warm.front() * 1e3, warm[warm.size() / 2] * 1e3,
               warm.back() * 1e3, runs, server.requests() - cold_requests);
}

} // namespace

int main(int argc, char** argv) {
    try {
        std::string mode = argc > 1 ? argv[1] : "";
        auto options = parse_options(argc, argv);
        for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"})
            ::unsetenv(name);
        if (mode == "narinfo")
            bench_narinfo(options);
        else if (mode == "nar")
            bench_nar(options);
        else if (mode == "dry-run")
            bench_dry_run(options);
        else
            throw UsageError("usage: cache-bench narinfo|nar|dry-run [--option value]…");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cache-bench: %s\n", e.what());
        return 1;
    }
}
