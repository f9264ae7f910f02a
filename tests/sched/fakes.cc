#include "fakes.hh"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "ferry/store/derivation_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/store/nar_restore.hh"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace ferry::test {

std::string file_nar(std::string_view contents) {
    TempDir dir;
    write_file_atomic(dir.path() / "f", contents);
    std::string nar;
    dump_path(dir.path() / "f", [&](std::string_view s) { nar += s; });
    return nar;
}

void FakeSubstituter::add(const StorePath& path, const StorePathSet& references) {
    std::string contents = "contents of " + path.to_string() + "\n";
    for (const auto& r : references)
        contents += dir_.print(r) + "\n";
    auto nar = file_nar(contents);
    ValidPathInfo info(path, hash_string(HashAlgo::sha256, nar), nar.size());
    info.references = references;
    paths_[path] = {std::make_shared<SubstitutablePath>(std::move(info), nar.size()), nar};
}

asio::awaitable<void> FakeSubstituter::sleep() {
    if (delay_.count() == 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, delay_);
    co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<std::shared_ptr<const SubstitutablePath>> FakeSubstituter::query(const StorePath& path) {
    auto now = Clock::now();
    if (!first_query_) first_query_ = now;
    query_log.emplace_back(path, now - *first_query_);
    co_await sleep();
    auto it = paths_.find(path);
    co_return it == paths_.end() ? nullptr : it->second.first;
}

asio::awaitable<StagedTree> FakeSubstituter::fetch(const SubstitutablePath& offer, StoreView& store,
                                                   FetchProgress& progress) {
    ++fetches;
    co_await sleep();
    const auto& path = offer.info.path;
    if (failing_.count(path)) {
        // As BinaryCache: the reason, in the context of the path and the cache.
        SubstituteError error("NAR is corrupt (injected by the test)");
        error.add_context(fmt::format("cannot substitute '{}' from '{}'", dir_.print(path), uri_));
        throw error;
    }
    const auto& nar = paths_.at(path).second;
    if (progress.on_download) progress.on_download(nar.size());
    StagedTree tree{store.stage(path.name()), offer.info};
    if (tree.staged) restore_nar(nar, tree.staged->path());
    co_return tree;
}

namespace {

/// The outputs a fake build wrote, in a scratch directory removed with it.
struct FakeOutputs : BuiltOutputs {
    explicit FakeOutputs(const fs::path& parent) : scratch(parent, "fake-build") {}
    TempDir scratch;
};

} // namespace

asio::awaitable<std::unique_ptr<BuiltOutputs>> FakeBuilder::build(BuildJob& job) {
    const auto& name = job.drv->name;
    ++started[name];
    start_order.push_back(name);
    ++running;
    peak_running = std::max(peak_running, running);
    struct Done {
        size_t& running;
        ~Done() { --running; }
    } done{running};
    auto delay = slow_.count(name) ? slow_.at(name) : delay_;
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    try {
        co_await timer.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error&) {
        ++cancelled[name];
        throw;
    }
    if (job.log) job.log("building " + name + "\n");
    if (failing_.count(name))
        throw BuildError("builder for '{}' failed with exit code 1", job.store_dir.print(job.drv_path));

    if (job.scratch_parent.empty()) {
        ++finished[name];
        co_return std::make_unique<BuiltOutputs>();
    }
    auto out = std::make_unique<FakeOutputs>(job.scratch_parent);
    for (const auto& [output, path] : job.outputs) {
        std::string contents = name + " " + output + "\n";
        for (const auto& in : job.input_closure)
            contents += job.store_dir.print(in) + "\n";
        auto loc = out->scratch.path() / path.to_string();
        write_file_atomic(loc, contents);
        out->locations[output] = loc;
    }
    ++finished[name];
    co_return out;
}

Derivation test_derivation(const std::string& name, const std::vector<StorePath>& inputs,
                           const std::vector<std::string>& outputs) {
    Derivation drv;
    drv.name = name;
    for (const auto& o : outputs)
        drv.outputs[o] = DerivationOutput{};
    for (const auto& in : inputs)
        drv.input_drvs[in] = {"out"};
    drv.platform = "x86_64-linux";
    drv.builder = "/bin/sh";
    drv.args = {"-c", "true"};
    drv.env = {{"name", name}, {"builder", "/bin/sh"}, {"system", "x86_64-linux"}};
    return drv;
}

StorePath add_test_derivation(LocalStore& store, const std::string& name,
                              const std::vector<StorePath>& inputs, const std::vector<std::string>& outputs,
                              DerivationHasher* hasher) {
    Derivation drv = test_derivation(name, inputs, outputs);
    return hasher ? add_derivation(store, std::move(drv), *hasher) : add_derivation(store, std::move(drv));
}

} // namespace ferry::test
