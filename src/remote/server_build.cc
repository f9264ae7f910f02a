// ServerBuild: BuildDerivation on the server side.

#include "ferry/remote/server_build.hh"

#include <chrono>

#include <nlohmann/json.hpp>

#include "ferry/sched/build_failure.hh"
#include "ferry/store/derivation_hash.hh"
#include "ferry/util/file.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {
uint64_t now() {
    return uint64_t(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

/// Nix's builtOutputs: each output's realisation, keyed "<hash modulo of the basic derivation>!<name>"
/// (the basic derivation as received: no input derivations, so nothing to load).
std::map<std::string, std::string> realisations(const StoreDir& dir, const Derivation& drv,
                                                const std::map<std::string, StorePath>& outputs) {
    DerivationHasher hasher(dir, [&dir](const StorePath& p) -> Derivation {
        throw Error("a basic derivation has no input derivation '{}'", dir.print(p));
    });
    std::map<std::string, std::string> out;
    auto hashes = hasher.hash_modulo(drv, true);
    for (const auto& [name, path] : outputs) {
        std::string id = hashes.at(name).to_string(HashFormat::base16, true) + "!" + name;
        nlohmann::json j{{"id", id},
                         {"outPath", path.to_string()},
                         {"signatures", nlohmann::json::array()},
                         {"dependentRealisations", nlohmann::json::object()}};
        out.emplace(id, j.dump());
    }
    return out;
}

serve::BuildStatus status_of(std::exception_ptr e, bool fixed_output) {
    try {
        std::rethrow_exception(e);
    } catch (const BuildTimedOut&) {
        return serve::BuildStatus::timed_out;
    } catch (const OutputHashMismatch&) {
        return serve::BuildStatus::output_rejected;
    } catch (const BuildError&) {
        return fixed_output ? serve::BuildStatus::transient_failure : serve::BuildStatus::permanent_failure;
    } catch (...) {
        return serve::BuildStatus::misc_failure;
    }
}
} // namespace

asio::awaitable<serve::BuildResult> ServerBuild::run(const StorePath& drv_path, const Derivation& drv,
                                                     const serve::BuildOptions& options) {
    serve::BuildResult result;
    result.start_time = now();
    std::exception_ptr failure;
    try {
        const StoreDir& dir = store.store_dir();
        std::map<std::string, StorePath> outputs;
        StorePathSet output_paths;
        for (const auto& [name, _] : drv.outputs) {
            outputs.emplace(name, drv.output_path(dir, name));
            output_paths.insert(outputs.at(name));
        }
        auto valid = co_await store.query_valid(output_paths);
        if (valid.size() == output_paths.size()) {
            result.status = serve::BuildStatus::already_valid;
            result.stop_time = now();
            co_return result;
        }
        auto locks = co_await lock_paths(store, output_paths);
        auto closure = co_await store.closure(drv.input_srcs);
        auto layout = store.layout();
        BuildJob job{.drv_path = drv_path, .drv = &drv, .store_dir = dir};
        job.real_store_dir = layout.real_store_dir;
        job.scratch_parent = layout.staging_dir;
        job.outputs = outputs;
        job.input_closure = std::move(closure);
        job.env.store_dir = dir.dir();
        job.env.cores = cores;
        job.max_silent_time = unsigned(options.max_silent_time);
        job.timeout = unsigned(options.build_timeout);
        job.max_log_size = options.max_log_size;
        job.keep_failed = options.keep_failed;
        job.pool = &pool;
        int fd = log_fd;
        job.log = [fd](std::string_view data) {
            try {
                write_full(fd, data, "the build log");
            } catch (const Error&) {
                // The client went away; the build goes on until it notices.
            }
        };
        auto built = co_await builder.build(job);
        auto trees = co_await store.stage_build_outputs(job, *built);
        co_await make_valid(store, std::move(trees), locks.get());
        co_await run_on(pool.get_executor(), [&built] { built.reset(); });
        result.status = serve::BuildStatus::built;
        result.times_built = 1;
        result.built_outputs = realisations(dir, drv, outputs);
    } catch (const std::exception& e) {
        failure = std::current_exception();
        result.error_msg = e.what();
    }
    if (failure) result.status = status_of(failure, drv.is_fixed_output());
    result.stop_time = now();
    co_return result;
}

asio::awaitable<serve::BuildResult>
ServerBuild::build_path(const StorePath& drv_path, const serve::BuildOptions& options, StorePathSet& seen) {
    const StoreDir& dir = store.store_dir();
    auto drv = co_await store.read_derivation(drv_path);
    Derivation basic = *drv;
    for (const auto& [input, wanted] : drv->input_drvs) {
        auto input_drv = co_await store.read_derivation(input);
        StorePathSet needed;
        for (const auto& name : wanted)
            needed.insert(input_drv->output_path(dir, name));
        auto valid = co_await store.query_valid(needed);
        if (valid.size() != needed.size()) {
            if (!seen.insert(input).second) {
                serve::BuildResult failed;
                failed.status = serve::BuildStatus::dependency_failed;
                failed.error_msg =
                    fmt::format("dependency '{}' of '{}' failed", dir.print(input), dir.print(drv_path));
                co_return failed;
            }
            auto result = co_await build_path(input, options, seen);
            if (!serve::is_success(result.status)) co_return result;
        }
        basic.input_srcs.insert(needed.begin(), needed.end());
    }
    basic.input_drvs.clear();
    co_return co_await run(drv_path, basic, options);
}

} // namespace ferry
