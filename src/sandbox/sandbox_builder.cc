#include "ferry/sandbox/sandbox_builder.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "ferry/sandbox/namespace_support.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/sandbox/sandbox_setup.hh"
#include "ferry/sandbox/supervised_run.hh"
#include "ferry/util/offload.hh"

namespace asio = boost::asio;

namespace ferry {

namespace {

/// For keep-failed: the build directory stays (readable, as Nix leaves it) and the message says where.
std::string keep_if_wanted(const BuildJob& job, PreparedSandbox& prepared) {
    if (!job.keep_failed) return "";
    ::chmod(prepared.build_dir.c_str(), 0755);
    prepared.build.release();
    return "; note: keeping build directory '" + prepared.build_dir.string() + "'";
}

void check_no_chroot(const BuildJob& job, const SandboxOptions& options) {
    auto it = job.drv->env.find("__noChroot");
    if (options.reject_no_chroot && it != job.drv->env.end() && it->second == "1")
        throw SandboxError(
            "derivation '{}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'",
            job.store_dir.print(job.drv_path));
}

} // namespace

SandboxBuilder::SandboxBuilder(SandboxOptions options)
    : options_(std::move(options)), host_(probe_host_facts()) {}

std::unique_ptr<PreparedSandbox> SandboxBuilder::prepare(const BuildJob& job, const std::string& drv,
                                                         std::shared_ptr<BuildIds> ids) const {
    auto context = "while preparing the sandbox for '" + drv + "'";
    try {
        return prepare_sandbox(job, options_, host_, std::move(ids));
    } catch (BuildError& e) {
        e.add_context(context);
        throw;
    } catch (const Error& e) {
        // Whatever went wrong (a missing input, a full disk), the build failed: callers expect a BuildError.
        throw SandboxError("{}: {}", context, e.what());
    }
}

asio::awaitable<std::unique_ptr<BuiltOutputs>> SandboxBuilder::build(BuildJob& job) {
    auto drv = job.store_dir.print(job.drv_path);
    check_no_chroot(job, options_);
    // As root, the builder runs under ids of its own, never as host root; unprivileged, as the caller.
    std::shared_ptr<BuildIds> ids;
    if (::geteuid() == 0) ids = co_await acquire_job_ids(job, options_.build_users, true);
    std::unique_ptr<PreparedSandbox> prepared;
    if (job.pool) {
        // The preparation stats every input and writes the sandbox's files: off the loop thread.
        auto work = [this, &job, &drv, &ids] { return prepare(job, drv, ids); };
        prepared = co_await offload(*job.pool, work);
    } else {
        prepared = prepare(job, drv, std::move(ids));
    }
    SupervisedRunOptions run_options{.namespaces = prepared->namespaces};
    auto outcome = co_await run_supervised(prepared->program, job, run_options);
    throw_on_failure(job, outcome, prepared->program, [&] { return keep_if_wanted(job, *prepared); });

    auto root = prepared->root;
    // As Nix, the build directory goes as soon as the build succeeded; the root holds the outputs.
    auto out = std::make_unique<SandboxBuiltOutputs>(std::move(prepared->staging), outcome.setup_time,
                                                     prepared->ids);
    for (const auto& [name, path] : job.outputs)
        out->locations[name] = root.string() + job.store_dir.print(path);
    co_return out;
}

} // namespace ferry
