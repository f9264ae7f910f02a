// Garbage collection of a generated store: N paths (direct registration + one small file each), half of
// them garbage by default, then one collection, with the time of each phase. --dump-db writes the store's
// registrations in `nix-store --dump-db` form, so that compare-nix.sh can time Nix 2.8 on the same store.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "ferry/store/gc.hh"
#include "ferry/store/store_graph.hh"
#include "ferry/store/verify.hh"
#include "support/store_gen.hh"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void dump_db(ferry::LocalStore& store, const fs::path& file) {
    std::ofstream out(file);
    auto g = store.load_graph();
    for (size_t i = 0; i < g.size(); ++i) {
        out << store.print(g.paths[i]) << "\n"
            << ferry::Hash::parse(g.nar_hash[i]).to_base16() << "\n"
            << g.nar_size[i] << "\n\n"
            << (g.ref_begin[i + 1] - g.ref_begin[i]) << "\n";
        for (auto k = g.ref_begin[i]; k < g.ref_begin[i + 1]; ++k)
            out << store.print(g.paths[g.refs[k]]) << "\n";
    }
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Time a garbage collection of a generated store"};
    size_t paths = 100000;
    unsigned garbage_percent = 50;
    std::string dir, dump;
    bool generate_only = false, verify = false;
    app.add_option("--paths", paths, "Valid paths in the store")->capture_default_str();
    app.add_option("--garbage-percent", garbage_percent, "How many of them are garbage")
        ->capture_default_str();
    app.add_option("--dir", dir, "Store root (kept); default: a temporary directory");
    app.add_option("--dump-db", dump, "Write the registrations as nix-store --dump-db does");
    app.add_flag("--generate-only", generate_only, "Stop after generating (and --dump-db)");
    app.add_flag("--verify", verify, "Also time verify --check-contents before the collection");
    CLI11_PARSE(app, argc, argv);

    std::optional<ferry::TempDir> tmp;
    if (dir.empty()) dir = tmp.emplace().path().string();
    ferry::StoreConfig config{.store_dir = "/nix/store", .root = dir};
    ferry::LocalStore store(config);
    size_t garbage = paths * garbage_percent / 100;
    auto t = Clock::now();
    ferry::test::generate_store(store, paths - garbage, garbage);
    std::printf("generated %zu paths (%zu garbage) in %.2f s\n", paths, garbage, seconds_since(t));
    if (!dump.empty()) dump_db(store, dump);
    if (generate_only) return 0;
    if (verify) {
        t = Clock::now();
        auto report = ferry::verify_store(store, {.check_contents = true});
        std::printf("verify --check-contents: %zu paths, %zu problems, %.2f s\n", report.paths,
                    report.problems.size(), seconds_since(t));
    }
    t = Clock::now();
    auto r = ferry::collect_garbage(store, ferry::GcOptions{});
    double total = seconds_since(t);
    std::printf(
        "gc: %zu paths deleted, %.2f MiB freed in %.2f s (roots %.0f ms, of which loading the graph %.0f "
        "ms; mark %.1f ms; delete %.0f ms, of which invalidating %.0f ms)\n",
        r.paths.size(), double(r.bytes_freed) / (1024.0 * 1024.0), total, r.timings.roots_ms,
        r.timings.load_ms, r.timings.mark_ms, r.timings.delete_ms, r.timings.invalidate_ms);
    return r.paths.size() == garbage ? 0 : 1;
}
