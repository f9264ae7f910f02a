// sandbox-bench: builds the graph sandbox-graph-gen wrote, in the sandbox, keeping N builds (default 2)
// in flight on one io_context, and prints the total time, builds per second and the sandbox set-up time
// per build (clone → exec of the builder, as the child measures it). By default each output is
// registered in a fresh LocalStore (canonicalise, scan, hash, SQLite) as a real build would be; with
// --no-register outputs are only renamed into the store directory. See bench/README.md.
//
//   sandbox-bench GRAPH_DIR [--jobs N] [--no-register]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/sched/build_outputs.hh"
#include "ferry/store/derivation_store.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

using namespace ferry;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kBusybox = "jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";

struct Options {
    fs::path graph;
    unsigned jobs = 2;
    bool do_register = true;
};

struct Pending {
    Derivation drv;
    size_t waiting = 0;                ///< input derivations not built yet
    std::vector<StorePath> dependents; ///< derivations waiting for this one
};

/// Keeps `jobs` builds in flight; each completion registers the outputs and starts what became ready.
class GraphRun {
public:
    GraphRun(const Options& options, LocalStore& store, std::map<StorePath, Pending> graph)
        : options_(options), store_(store), graph_(std::move(graph)) {
        scratch_ = store_.config().effective_root() / "scratch";
        fs::create_directories(scratch_);
        for (auto& [path, node] : graph_) {
            node.waiting = node.drv.input_drvs.size();
            for (const auto& [input, _] : node.drv.input_drvs)
                graph_.at(input).dependents.push_back(path);
        }
        for (const auto& [path, node] : graph_)
            if (node.waiting == 0) ready_.push_back(path);
    }

    void run() {
        start_more();
        io_.run();
        if (error_) std::rethrow_exception(error_);
        if (built_ != graph_.size())
            throw Error("only {} of {} derivations were built", built_, graph_.size());
    }

    const std::vector<double>& setup_ms() const { return setup_ms_; }

private:
    void start_more() {
        while (!error_ && in_flight_ < options_.jobs && !ready_.empty()) {
            auto path = ready_.front();
            ready_.pop_front();
            start(path);
        }
    }

    void start(const StorePath& path) {
        const auto& drv = graph_.at(path).drv;
        auto job = std::make_unique<BuildJob>(
            BuildJob{.drv_path = path, .drv = &drv, .store_dir = store_.store_dir()});
        job->real_store_dir = store_.config().real_store_dir();
        job->scratch_parent = scratch_;
        job->outputs.emplace("out", drv.output_path(store_.store_dir(), "out"));
        StorePathSet roots = drv.input_srcs;
        for (const auto& [input, _] : drv.input_drvs)
            roots.insert(graph_.at(input).drv.output_path(store_.store_dir(), "out"));
        job->input_closure = options_.do_register ? store_.compute_closure(roots) : roots;
        job->env.cores = 1;
        auto* raw = job.get();
        jobs_.emplace(path, std::move(job));
        ++in_flight_;
        boost::asio::co_spawn(io_, builder_.build(*raw),
                              [this, path](std::exception_ptr e, std::unique_ptr<BuiltOutputs> out) {
                                  --in_flight_;
                                  try {
                                      if (e) std::rethrow_exception(e);
                                      finish(path, *out);
                                  } catch (...) {
                                      if (!error_) error_ = std::current_exception();
                                  }
                                  jobs_.erase(path);
                                  start_more();
                              });
    }

    void finish(const StorePath& path, BuiltOutputs& out) {
        auto& sandboxed = dynamic_cast<SandboxBuiltOutputs&>(out);
        setup_ms_.push_back(std::chrono::duration<double, std::milli>(sandboxed.setup_time()).count());
        const auto& job = *jobs_.at(path);
        if (options_.do_register) {
            register_build_outputs(store_, path, *job.drv, job.outputs, out, job.input_closure);
        } else {
            auto dest = store_.real_path(job.outputs.at("out"));
            check_sys(std::rename(out.locations.at("out").c_str(), dest.c_str()), "moving " + dest.string());
        }
        ++built_;
        for (const auto& dependent : graph_.at(path).dependents)
            if (--graph_.at(dependent).waiting == 0) ready_.push_back(dependent);
    }

    const Options& options_;
    LocalStore& store_;
    std::map<StorePath, Pending> graph_;
    fs::path scratch_;
    boost::asio::io_context io_;
    SandboxBuilder builder_;
    std::deque<StorePath> ready_;
    std::map<StorePath, std::unique_ptr<BuildJob>> jobs_;
    unsigned in_flight_ = 0;
    size_t built_ = 0;
    std::vector<double> setup_ms_;
    std::exception_ptr error_;
};

std::map<StorePath, Pending> load_graph(const fs::path& dir, const StoreDir& store_dir) {
    std::map<StorePath, Pending> graph;
    for (const auto& entry : fs::directory_iterator(dir / "drv")) {
        StorePath path(entry.path().filename().string());
        auto name = std::string(path.name());
        graph[path].drv =
            parse_derivation(store_dir, read_file(entry.path()), name.substr(0, name.size() - 4));
    }
    return graph;
}

/// A fresh store holding busybox and (when registering) the `.drv` files, as a build would find it.
void prepare_store(LocalStore& store, const Options& options, const std::map<StorePath, Pending>& graph) {
    auto busybox = store.add_to_store(options.graph / "bb", FileIngestionMethod::recursive, "busybox-static");
    if (busybox.to_string() != kBusybox)
        throw Error("busybox became '{}', not '{}'", busybox.to_string(), kBusybox);
    if (!options.do_register) return;
    std::vector<Derivation> drvs;
    for (const auto& [_, node] : graph)
        drvs.push_back(node.drv);
    add_derivations(store, std::move(drvs));
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

void report(size_t builds, double seconds, const std::vector<double>& setup) {
    double mean = 0;
    for (double ms : setup)
        mean += ms / double(setup.size());
    fmt::print("builds: {}\ntotal: {:.2f} s\nbuilds/s: {:.1f}\nper build: {:.2f} ms wall\n", builds, seconds,
               double(builds) / seconds, seconds * 1000 / double(builds));
    fmt::print(
        "sandbox set-up (clone -> exec): mean {:.2f} ms, median {:.2f} ms, p95 {:.2f} ms, max {:.2f} ms\n",
        mean, percentile(setup, 0.5), percentile(setup, 0.95), percentile(setup, 1.0));
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--jobs" && i + 1 < argc)
            options.jobs = unsigned(std::stoul(argv[++i]));
        else if (arg == "--no-register")
            options.do_register = false;
        else if (options.graph.empty() && arg[0] != '-')
            options.graph = arg;
        else
            throw UsageError("usage: sandbox-bench GRAPH_DIR [--jobs N] [--no-register]");
    }
    if (options.graph.empty() || options.jobs == 0)
        throw UsageError("usage: sandbox-bench GRAPH_DIR [--jobs N] [--no-register]");
    return options;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto options = parse(argc, argv);
        TempDir work(fs::temp_directory_path(), "ferry-sandbox-bench");
        StoreConfig config;
        config.root = work.path() / "root";
        LocalStore store(config);
        auto graph = load_graph(options.graph, store.store_dir());
        prepare_store(store, options, graph);
        size_t builds = graph.size();
        fmt::print("building {} derivations, {} at a time{}\n", builds, options.jobs,
                   options.do_register ? ", registering outputs" : "");
        GraphRun run(options, store, std::move(graph));
        auto start = Clock::now();
        run.run();
        report(builds, std::chrono::duration<double>(Clock::now() - start).count(), run.setup_ms());
        return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sandbox-bench: %s\n", e.what());
        return 1;
    }
}
