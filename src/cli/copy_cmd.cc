// `ferry copy --from URL PATH…`: copies closures from a binary cache into the local store, in parallel,
// through the scheduler (Worker::realise with that cache as the only substituter and no builder).
#include <iostream>

#include "command.hh"
#include "ferry/cache/binary_cache.hh"
#include "session.hh"

namespace asio = boost::asio;

namespace ferry::cli {

namespace {

struct CopyOptions {
    std::string from;
    std::vector<std::string> paths;
};

/// A failed copy's best explanation: when the cache itself is unusable (its nix-cache-info, fetched
/// alongside the first queries, failed), that reason rather than "no substituter can provide it".
asio::awaitable<void> explain_failure(Session& session) {
    for (const auto& s : session.substituters())
        if (auto* cache = dynamic_cast<BinaryCache*>(s.get())) co_await cache->wait_ready();
}

asio::awaitable<void> copy_paths(Session& session, Worker& worker, const std::vector<StorePath>& paths,
                                 const std::string& from) {
    if (session.substituters().empty())
        throw Error("cannot copy from '{}': the binary cache cannot be used (see the warning above)", from);
    std::vector<Target> targets;
    std::vector<std::shared_ptr<Goal>> derivations;
    for (const auto& p : paths) {
        // A Target naming a .drv means its outputs; copy wants the file itself.
        if (p.is_derivation())
            derivations.push_back(worker.path_goal(p));
        else
            targets.push_back(Target{p, {}});
    }
    std::exception_ptr failure;
    try {
        co_await worker.realise(targets);
        for (const auto& goal : derivations)
            if (goal->failed()) std::rethrow_exception(goal->error());
    } catch (const Interrupted&) {
        throw;
    } catch (const Error&) {
        failure = std::current_exception();
    }
    if (!failure) co_return;
    co_await explain_failure(session);
    std::rethrow_exception(failure);
}

int run_copy(const GlobalOptions& global, const CopyOptions& o) {
    if (!is_binary_cache_url(o.from)) throw UsageError("--from '{}' is not a binary cache URL", o.from);
    Settings settings = load_settings(global);
    settings.substituters = {o.from};
    settings.substitute = true;
    Session session(global, std::move(settings));
    std::vector<StorePath> paths;
    for (const auto& arg : o.paths)
        paths.push_back(parse_store_path_arg(session.store(), arg));
    try {
        session.run([&](Worker& w) { return copy_paths(session, w, paths, o.from); }, false);
    } catch (const Interrupted& e) {
        ferry::log_error("{}", e.what());
        return session.signal_exit_code() ? session.signal_exit_code() : 1;
    }
    return 0;
}

} // namespace

void register_copy_command(CLI::App& app, Context& ctx) {
    auto o = std::make_shared<CopyOptions>();
    auto* cmd = app.add_subcommand("copy", "Copy store paths and their closures from a binary cache");
    cmd->add_option("--from", o->from, "The binary cache (http://, https:// or file:// URL)")->required();
    cmd->add_option("paths", o->paths, "Store paths to copy (with everything they refer to)")->required();
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_copy(ctx.global, *o); }; });
}

} // namespace ferry::cli
