#include "ferry/cache/closure_query.hh"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "ferry/util/event.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// The search, shared by the coroutine of each path.
struct Search {
    Search(BinaryCache& s, const asio::any_io_executor& ex, bool r)
        : substituter(s), executor(ex), recursive(r), done(ex) {}

    BinaryCache& substituter;
    asio::any_io_executor executor;
    bool recursive;
    Event done;
    size_t running = 0;
    StorePathSet seen;
    ClosureInfos result;
    std::exception_ptr error;
};

asio::awaitable<void> visit(std::shared_ptr<Search> search, StorePath path);

void start(const std::shared_ptr<Search>& search, const StorePath& path) {
    if (search->error || !search->seen.insert(path).second) return;
    ++search->running;
    asio::co_spawn(search->executor, visit(search, path), asio::detached);
}

asio::awaitable<void> visit(std::shared_ptr<Search> search, StorePath path) {
    try {
        std::shared_ptr<const NarInfo> info = co_await search->substituter.query_narinfo(path);
        if (!info) {
            search->result.missing.insert(path);
        } else {
            search->result.infos.emplace(path, info);
            if (search->recursive)
                for (const auto& ref : info->references)
                    start(search, ref);
        }
    } catch (...) {
        if (!search->error) search->error = std::current_exception();
    }
    if (--search->running == 0) search->done.set();
}

} // namespace

asio::awaitable<ClosureInfos> query_closure(BinaryCache& cache, StorePathSet roots, bool recursive) {
    auto executor = co_await asio::this_coro::executor;
    auto search = std::make_shared<Search>(cache, executor, recursive);
    for (const auto& root : roots)
        start(search, root);
    if (search->running > 0) co_await search->done.wait();
    if (search->error) std::rethrow_exception(search->error);
    co_return std::move(search->result);
}

} // namespace ferry
