#include "remote_uploads.hh"

#include <set>

#include "ferry/store/local_store.hh"
#include "ferry/util/finally.hh"

namespace asio = boost::asio;

namespace ferry {

std::vector<ValidPathInfo> topological_order(std::vector<ValidPathInfo> infos) {
    std::map<StorePath, ValidPathInfo*> by_path;
    for (auto& i : infos)
        by_path[i.path] = &i;
    std::vector<ValidPathInfo> out;
    std::set<StorePath> placed;
    // Depth-first, references first; an explicit stack (long chains), each path placed once.
    for (auto& [path, info] : by_path) {
        std::vector<std::pair<ValidPathInfo*, bool>> stack{{info, false}};
        while (!stack.empty()) {
            auto [i, expanded] = stack.back();
            stack.pop_back();
            if (placed.count(i->path)) continue;
            if (expanded) {
                placed.insert(i->path);
                out.push_back(*i);
                continue;
            }
            stack.emplace_back(i, true);
            for (const auto& r : i->references)
                if (r != i->path)
                    if (auto it = by_path.find(r); it != by_path.end() && !placed.count(r))
                        stack.emplace_back(it->second, false);
        }
    }
    return out;
}

asio::awaitable<void> RemoteUploads::copy(StoreView& store, std::vector<ValidPathInfo> batch,
                                          std::vector<std::shared_ptr<Copy>> claims) {
    // However it ends, the claims are settled: done, or forgotten so that the next build copies them.
    bool ok = false;
    std::string down_reason;
    Finally settle([&] {
        for (size_t i = 0; i < claims.size(); ++i) {
            claims[i]->ok = ok;
            claims[i]->down_reason = down_reason;
            if (!ok) copies_.erase(batch[i].path);
            claims[i]->done.set();
        }
    });
    try {
        co_await machine_.upload(store, batch);
    } catch (const MachineDown& e) {
        down_reason = e.what();
        throw;
    }
    ok = true;
    uploaded_ += batch.size();
}

asio::awaitable<void> RemoteUploads::ensure(StoreView& store, StorePathSet missing) {
    std::vector<ValidPathInfo> infos;
    for (const auto& p : missing) {
        auto info = co_await store.path_info(p);
        if (!info) throw InvalidPath("path '{}' is not valid", store.print(p));
        infos.push_back(std::move(*info));
    }
    auto order = topological_order(std::move(infos));
    std::vector<ValidPathInfo> batch;
    std::vector<std::shared_ptr<Copy>> claims;
    for (size_t i = 0; i < order.size();) {
        auto it = copies_.find(order[i].path);
        if (it == copies_.end()) {
            auto c = std::make_shared<Copy>(ex_);
            copies_.emplace(order[i].path, c);
            claims.push_back(c);
            batch.push_back(order[i]);
            ++i;
            continue;
        }
        if (it->second->ok) {
            ++i;
            continue;
        }
        // Another build copies it: ours first (its references are done), then wait for that one.
        if (!batch.empty()) co_await copy(store, std::exchange(batch, {}), std::exchange(claims, {}));
        auto other = it->second;
        co_await other->done.wait();
        if (!other->ok && !other->down_reason.empty()) throw MachineDown("{}", other->down_reason);
        // Done, or cancelled (then nobody copies it now: look again, and claim it).
        if (other->ok) ++i;
    }
    if (!batch.empty()) co_await copy(store, std::move(batch), std::move(claims));
}

} // namespace ferry
