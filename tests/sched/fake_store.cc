#include "fake_store.hh"
#include "fakes.hh"

#include <thread>

#include "ferry/sched/build_log.hh"
#include "ferry/store/derivation_hash.hh"
#include "ferry/store/local_store.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry::test {

struct FakeStore::Locks final : StoreLocks {
    Locks(FakeStore& s, StorePathSet p) : store(s), paths(std::move(p)) {}
    ~Locks() override {
        std::lock_guard lock(store.mutex_);
        for (const auto& p : paths)
            store.locked_.erase(p);
    }
    FakeStore& store;
    StorePathSet paths;
};

FakeStore::FakeStore(asio::thread_pool& pool, std::chrono::milliseconds delay)
    : pool_(pool), delay_(delay), hasher_(dir_, [this](const StorePath& p) { return *derivations_.at(p); }) {}

template <typename Fn> asio::awaitable<std::invoke_result_t<Fn&>> FakeStore::answer(Fn fn) {
    ++calls_;
    auto locked = [this, &fn] {
        if (delay_.count()) std::this_thread::sleep_for(delay_);
        std::lock_guard lock(mutex_);
        return fn();
    };
    if (!delay_.count()) co_return locked();
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
        co_await offload(pool_, locked);
    } else {
        auto result = co_await offload(pool_, locked);
        co_return result;
    }
}

void FakeStore::add_valid(const StorePath& path, const StorePathSet& references) {
    std::lock_guard lock(mutex_);
    ValidPathInfo info(path, hash_string(HashAlgo::sha256, path.to_string()), 1);
    info.references = references;
    valid_.insert_or_assign(path, std::move(info));
}

StorePath FakeStore::add_derivation(const std::string& name, const std::vector<StorePath>& inputs,
                                    const std::vector<std::string>& outputs) {
    return add_derivation(test_derivation(name, inputs, outputs));
}

StorePath FakeStore::add_derivation(Derivation drv) {
    const auto& name = drv.name;
    hasher_.fill_outputs(drv);
    auto refs = drv.references();
    auto path = dir_.make_text_path(name + ".drv", unparse_derivation(dir_, drv), refs);
    derivations_[path] = std::make_shared<const Derivation>(std::move(drv));
    add_valid(path, refs);
    return path;
}

StorePath FakeStore::output_path(const StorePath& drv, const std::string& output) const {
    return derivations_.at(drv)->output_path(dir_, output);
}

bool FakeStore::valid(const StorePath& path) const {
    std::lock_guard lock(mutex_);
    return valid_.count(path) > 0;
}

std::vector<StorePath> FakeStore::committed() const {
    std::lock_guard lock(mutex_);
    return committed_;
}

std::map<StorePath, int> FakeStore::reads() const {
    std::lock_guard lock(mutex_);
    return reads_;
}

std::vector<StorePath> FakeStore::checked() const {
    std::lock_guard lock(mutex_);
    return checked_;
}

asio::awaitable<StorePathSet> FakeStore::query_valid(StorePathSet paths) {
    auto result = co_await answer([this, &paths] {
        StorePathSet out;
        for (const auto& p : paths)
            if (valid_.count(p)) out.insert(p);
        return out;
    });
    co_return result;
}

asio::awaitable<std::optional<ValidPathInfo>> FakeStore::path_info(StorePath path) {
    auto result = co_await answer([this, &path]() -> std::optional<ValidPathInfo> {
        auto it = valid_.find(path);
        if (it == valid_.end()) return std::nullopt;
        return it->second;
    });
    co_return result;
}

asio::awaitable<std::shared_ptr<const Derivation>> FakeStore::read_derivation(StorePath drv) {
    auto result = co_await answer([this, &drv] {
        if (!valid_.count(drv) || !derivations_.count(drv))
            throw InvalidPath("path '{}' is not valid", dir_.print(drv));
        ++reads_[drv];
        return derivations_.at(drv);
    });
    co_return result;
}

asio::awaitable<StorePathSet> FakeStore::closure(StorePathSet paths) {
    auto result = co_await answer([this, &paths] {
        StorePathSet seen;
        std::vector<StorePath> todo(paths.begin(), paths.end());
        while (!todo.empty()) {
            auto p = todo.back();
            todo.pop_back();
            if (!seen.insert(p).second) continue;
            auto it = valid_.find(p);
            if (it == valid_.end()) throw InvalidPath("path '{}' is not valid", dir_.print(p));
            for (const auto& r : it->second.references)
                todo.push_back(r);
        }
        return seen;
    });
    co_return result;
}

asio::awaitable<std::unique_ptr<StoreLocks>> FakeStore::try_lock(StorePathSet paths) {
    auto result = co_await answer([this, &paths]() -> std::unique_ptr<StoreLocks> {
        for (const auto& p : paths)
            if (locked_.count(p)) return nullptr;
        locked_.insert(paths.begin(), paths.end());
        return std::make_unique<Locks>(*this, paths);
    });
    co_return result;
}

asio::awaitable<void> FakeStore::commit(std::vector<StagedTree> trees) {
    co_await answer([this, &trees] {
        StorePathSet batch;
        for (const auto& t : trees)
            batch.insert(t.info.path);
        for (const auto& t : trees)
            for (const auto& r : t.info.references)
                if (!valid_.count(r) && !batch.count(r))
                    throw InvalidPath("cannot register '{}': its reference '{}' is not valid",
                                      dir_.print(t.info.path), dir_.print(r));
        for (auto& t : trees) {
            if (valid_.count(t.info.path)) continue;
            valid_.insert_or_assign(t.info.path, t.info);
            committed_.push_back(t.info.path);
        }
    });
}

asio::awaitable<void> FakeStore::discard(std::vector<StagedTree> trees) {
    co_await answer([&trees] { trees.clear(); });
}

asio::awaitable<void> FakeStore::register_derivation_outputs(StorePath, std::map<std::string, StorePath>) {
    co_await answer([] {});
}

asio::awaitable<std::unique_ptr<BuildLog>> FakeStore::open_build_log(StorePath) {
    auto result = co_await answer([] { return std::make_unique<BuildLog>(std::filesystem::path()); });
    co_return result;
}

asio::awaitable<std::vector<StagedTree>> FakeStore::stage_build_outputs(const BuildJob& job, BuiltOutputs&) {
    auto result = co_await answer([&job] {
        std::vector<StagedTree> trees;
        for (const auto& [name, out] : job.outputs) {
            ValidPathInfo info(out, hash_string(HashAlgo::sha256, job.drv->name + " " + name), 1);
            info.references = job.input_closure;
            info.deriver = job.drv_path;
            info.ultimate = true;
            trees.push_back(StagedTree{nullptr, std::move(info)});
        }
        return trees;
    });
    co_return result;
}

asio::awaitable<void> FakeStore::check_build_outputs(const BuildJob& job, BuiltOutputs&) {
    co_await answer([this, &job] {
        for (const auto& [_, out] : job.outputs)
            if (!valid_.count(out)) throw InvalidPath("path '{}' is not valid", dir_.print(out));
        checked_.push_back(job.drv_path);
    });
}

} // namespace ferry::test
