// `ferry store verify [--check-contents] [--repair]` and `ferry store repair PATH…` (as nix-store --verify
// and --repair-path): problems are one line each; repair fetches the path again from the substituters
// (the scheduler's) or, when none has it, builds its deriver again (BuildMode::repair), and swaps the
// verified contents in under the path's lock. Leftovers of killed processes are listed too (leftovers.hh).
#include <iostream>

#include "command.hh"
#include "ferry/cache/binary_cache.hh"
#include "ferry/store/leftovers.hh"
#include "ferry/store/verify.hh"
#include "ferry/util/cancellation.hh"
#include "ferry/util/offload.hh"
#include "session.hh"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

struct VerifyCmdOptions {
    bool check_contents = false;
    bool repair = false;
};

/// Fetches `path` again from the first substituter that has it with the recorded NAR hash and swaps it
/// in. False when none could.
asio::awaitable<bool> fetch_again(Session& session, Worker& w, const StorePath& path) {
    auto& store = session.store();
    auto info = co_await w.store().path_info(path);
    if (!info) throw InvalidPath("path '{}' is not valid", store.print(path));
    for (const auto& sub : session.substituters()) {
        try {
            auto offer = co_await sub->query(path);
            if (!offer) continue;
            if (offer->info.nar_hash != info->nar_hash) {
                warn("'{}' has other contents for '{}' (NAR hash {}, not {})", sub->uri(), store.print(path),
                     offer->info.nar_hash.to_nix32_prefixed(), info->nar_hash.to_nix32_prefixed());
                continue;
            }
            FetchProgress progress;
            StagedTree tree = co_await sub->fetch(*offer, w.store(), progress);
            co_await offload(w.pool(), [&store, &path, &tree] {
                replace_path_contents(store, path, *tree.staged);
                tree.staged.reset();
            });
            log_at(Level::info, "repaired path '{}' from '{}'", store.print(path), sub->uri());
            co_return true;
        } catch (const Error& e) {
            if (is_cancellation(std::current_exception())) throw;
            warn("{}", e.what());
        }
    }
    co_return false;
}

/// Builds the deriver of `path` again when it is valid (as nix-store --repair-path does when no
/// substituter has the path): the rebuild replaces the outputs' files only if each has its recorded NAR
/// hash. False when there is no valid deriver or the rebuild failed or differs (the store unchanged).
asio::awaitable<bool> rebuild(Session& session, Worker& w, const StorePath& path) {
    auto& store = session.store();
    auto info = co_await w.store().path_info(path);
    if (!info || !info->deriver) co_return false;
    StorePath drv = *info->deriver;
    StorePathSet wanted{drv};
    auto valid = co_await w.store().query_valid(wanted);
    if (valid.empty()) co_return false;
    std::vector<Target> targets;
    targets.push_back(Target{drv, {}});
    try {
        co_await w.realise(std::move(targets), BuildMode::repair);
        co_return true;
    } catch (const Interrupted&) {
        throw;
    } catch (const Error& e) {
        if (is_cancellation(std::current_exception())) throw;
        log_error("cannot repair path '{}' by rebuilding '{}': {}", store.print(path), store.print(drv),
                  e.what());
    }
    co_return false;
}

/// Repairs one problem; false when it stays.
asio::awaitable<bool> repair(Session& session, Worker& w, const VerifyProblem& problem) {
    auto& store = session.store();
    if (!problem.repairable()) co_return false;
    if (co_await fetch_again(session, w, problem.path)) co_return true;
    if (co_await rebuild(session, w, problem.path)) co_return true;
    if (problem.kind == VerifyProblem::Kind::disappeared) {
        // As Nix: a path that nothing valid refers to may simply stop being valid.
        auto referrers = store.query_referrers(problem.path);
        referrers.erase(problem.path);
        if (referrers.empty()) {
            log_at(Level::info, "path '{}' disappeared, removing from database...",
                   store.print(problem.path));
            store.invalidate_paths({problem.path});
            co_return true;
        }
        log_at(Level::error, "path '{}' disappeared, but it still has valid referrers!",
               store.print(problem.path));
    }
    log_error("cannot repair path '{}'", store.print(problem.path));
    co_return false;
}

/// Repairs `problems` through the scheduler's substituters; returns how many stay.
size_t repair_all(const GlobalOptions& global, const std::vector<VerifyProblem>& problems) {
    Session session(global, load_settings(global));
    size_t left = 0;
    session.run(
        [&](Worker& w) -> asio::awaitable<void> {
            for (const auto& p : problems)
                if (!co_await repair(session, w, p)) ++left;
        },
        true); // a builder: what no substituter has is built again from its deriver
    return left;
}

/// The leftovers of processes that no longer run, listed before the store is opened (opening it deletes
/// them, as every ferry's start-up does): not errors.
void report_stale_files(const GlobalOptions& global) {
    StoreConfig config;
    config.store_dir = global.store_dir;
    if (!global.store_root.empty()) config.root = fs::absolute(global.store_root);
    for (const auto& l : find_stale_files(config))
        log_at(Level::info, "{} (deleted by the start-up clean-up)", l.message);
}

int run_verify(const GlobalOptions& global, const VerifyCmdOptions& o) {
    if (!is_binary_cache_url(global.store_root)) report_stale_files(global);
    std::vector<VerifyProblem> problems;
    {
        auto store = open_local_store(global);
        auto report = verify_store(*store, VerifyOptions{o.check_contents, 0});
        problems = std::move(report.problems);
        // Garbage, not a broken promise: listed, deleted with --repair, and no cause of failure.
        for (const auto& l : report.leftovers) {
            if (!o.repair) {
                log_at(Level::info, "{} (--repair or a collection deletes it)", l.message);
                continue;
            }
            log_at(Level::info, "{}", l.message);
            try {
                remove_leftover(*store, l);
                log_at(Level::info, "deleted '{}'", l.file.string());
            } catch (const Error& e) {
                warn("cannot delete '{}': {}", l.file.string(), e.what());
            }
        }
    }
    for (const auto& p : problems)
        log_at(Level::error, "{}", p.message);
    size_t left = problems.size();
    if (o.repair && !problems.empty()) left = repair_all(global, problems);
    if (left == 0) return 0;
    warn("not all store errors were fixed");
    return 1;
}

int run_repair(const GlobalOptions& global, const std::vector<std::string>& args) {
    std::vector<VerifyProblem> todo;
    {
        auto store = open_local_store(global);
        for (const auto& a : args) {
            auto path = parse_store_path_arg(*store, a);
            auto problem = verify_path(*store, path, true);
            // A sound path is fetched again too (as nix-store --repair-path).
            todo.push_back(problem ? *problem
                                   : VerifyProblem{VerifyProblem::Kind::modified, path, store->print(path)});
        }
    }
    return repair_all(global, todo) == 0 ? 0 : 1;
}

} // namespace

void add_verify_commands(CLI::App& store, Context& ctx) {
    auto o = std::make_shared<VerifyCmdOptions>();
    auto* verify = store.add_subcommand(
        "verify", "Check that every valid path exists and (--check-contents) has its recorded hash");
    verify->add_flag("--check-contents", o->check_contents, "Hash every valid path and compare");
    verify->add_flag(
        "--repair", o->repair,
        "Fetch damaged or missing paths again from the substituters (or rebuild them), delete leftovers");
    verify->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_verify(ctx.global, *o); }; });

    auto paths = std::make_shared<std::vector<std::string>>();
    auto* repair_cmd =
        store.add_subcommand("repair", "Fetch store paths again from the substituters and put them in place");
    repair_cmd->add_option("paths", *paths, "Valid store paths to repair")->required();
    repair_cmd->callback(
        [&ctx, paths] { ctx.action = [&ctx, paths] { return run_repair(ctx.global, *paths); }; });
}

} // namespace ferry::cli
