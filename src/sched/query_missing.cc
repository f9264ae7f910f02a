// Worker::query_missing: what realising the targets would fetch and build (`--dry-run`). Every path is
// visited by its own coroutine, started the moment the path becomes known, so narinfo queries of a
// closure go out level after level with no barrier: depth d costs d + 1 round trips.

#include <boost/asio/co_spawn.hpp>

#include "ferry/sched/cycle.hh"
#include "ferry/sched/worker.hh"
#include "ferry/store/local_store.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

struct MissingSearch : std::enable_shared_from_this<MissingSearch> {
    Worker& worker;
    MissingPaths result;
    std::set<StorePath> seen_paths;
    std::set<std::pair<StorePath, std::string>> seen_outputs;
    std::set<StorePath> seen_builds;

    std::exception_ptr error;

    explicit MissingSearch(Worker& w) : worker(w) {}

    /// Runs `fn` as a tracked coroutine; the first error is kept for query_missing to rethrow.
    template <typename Fn>
    void spawn(Fn fn) {
        worker.spawn([self = shared_from_this(), fn = std::move(fn)]() -> asio::awaitable<void> {
            try {
                co_await fn(*self);
            } catch (...) {
                if (!self->error) self->error = std::current_exception();
            }
        });
    }

    void visit_path(const StorePath& p) {
        if (!seen_paths.insert(p).second) return;
        spawn([p](MissingSearch& s) { return s.path(p); });
    }

    void visit_output(const StorePath& drv, const std::string& output) {
        if (!seen_outputs.emplace(drv, output).second) return;
        spawn([drv, output](MissingSearch& s) { return s.output(drv, output); });
    }

    void visit_all_outputs(const StorePath& drv) {
        spawn([drv](MissingSearch& s) -> asio::awaitable<void> {
            auto d = co_await s.load(drv);
            if (!d) co_return;
            for (const auto& [name, _] : d->outputs) s.visit_output(drv, name);
        });
    }

    asio::awaitable<std::shared_ptr<const Derivation>> load(const StorePath& drv) {
        // A derivation that is not valid would have to be fetched before anything is known of it.
        if (!worker.store().is_valid_path(drv)) {
            co_await path(drv);
            co_return nullptr;
        }
        auto loaded = co_await worker.load_derivation(drv);
        co_return loaded;
    }

    asio::awaitable<void> path(const StorePath& p) {
        if (worker.store().is_valid_path(p)) co_return;
        auto sub = co_await worker.query_substitute(p);
        if (!sub) {
            result.unknown.insert(p);
            co_return;
        }
        if (!result.will_substitute.insert(p).second) co_return;
        result.download_size += sub->info->file_size;
        result.nar_size += sub->info->nar_size;
        for (const auto& r : sub->info->references)
            if (r != p) visit_path(r);
    }

    asio::awaitable<void> output(const StorePath& drv_path, const std::string& name) {
        auto drv = co_await load(drv_path);
        if (!drv) co_return;
        auto out = drv->output_path(worker.store().store_dir(), name);
        if (worker.store().is_valid_path(out)) co_return;
        auto substitute = co_await worker.query_substitute(out);
        if (substitute) {
            seen_paths.insert(out);
            co_await path(out);
            co_return;
        }
        if (!seen_builds.insert(drv_path).second) co_return;
        result.will_build.insert(drv_path);
        for (const auto& [input, outputs] : drv->input_drvs)
            for (const auto& o : outputs) visit_output(input, o);
        for (const auto& src : drv->input_srcs) visit_path(src);
    }
};

} // namespace

asio::awaitable<MissingPaths> Worker::query_missing(std::vector<Target> targets) {
    begin();
    auto search = std::make_shared<MissingSearch>(*this);
    for (const auto& t : targets) {
        if (!t.is_build())
            search->visit_path(t.path);
        else if (t.outputs.empty())
            search->visit_all_outputs(t.path);
        else
            for (const auto& o : t.outputs) search->visit_output(t.path, o);
    }
    co_await wait_idle();
    if (!stop_reason_.empty()) throw Interrupted("{}", stop_reason_);
    if (search->error) std::rethrow_exception(search->error);
    check_missing_cycles(search->result);
    co_return std::move(search->result);
}

void Worker::check_missing_cycles(const MissingPaths& missing) {
    // Discovery visits each path once, so a cycle ends it like anything else; realising the paths
    // would find it too, but a dry run must say so as well.
    auto fetched = find_cycle(missing.will_substitute, [this](const StorePath& p, const auto& add) {
        auto it = answers_.find(p);
        if (it != answers_.end() && it->second)
            for (const auto& r : it->second->info->references)
                add(r);
    });
    if (!fetched.empty()) throw CycleError(store_.store_dir(), fetched);
    auto built = find_cycle(missing.will_build, [this](const StorePath& drv, const auto& add) {
        auto it = derivations_.find(drv);
        if (it != derivations_.end())
            for (const auto& [input, _] : it->second->input_drvs)
                add(input);
    });
    if (!built.empty()) throw CycleError(store_.store_dir(), built);
}

} // namespace ferry
