#include "ferry/sandbox/make_builder.hh"

#include "ferry/sandbox/local_builder.hh"
#include "ferry/sandbox/namespace_support.hh"
#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/sandbox/sandbox_error.hh"
#include "ferry/util/events.hh"

namespace ferry {

namespace {

/// `sandbox = relaxed`: fixed-output derivations and those that ask for `__noChroot` run unsandboxed,
/// the rest in the sandbox.
class RelaxedBuilder final : public Builder {
public:
    RelaxedBuilder(std::unique_ptr<Builder> sandboxed, std::unique_ptr<Builder> unsandboxed)
        : sandboxed_(std::move(sandboxed)), unsandboxed_(std::move(unsandboxed)) {}

    boost::asio::awaitable<std::unique_ptr<BuiltOutputs>> build(BuildJob& job) override {
        // Nix's relaxed mode: only derivations that are sandboxed by nature (not fixed-output) and do not
        // ask for `__noChroot` get the sandbox.
        auto it = job.drv->env.find("__noChroot");
        bool no_chroot = it != job.drv->env.end() && it->second == "1";
        if (!no_chroot && !job.drv->is_fixed_output()) return sandboxed_->build(job);
        if (!unsandboxed_)
            throw SandboxError(
                "derivation '{}' must be built without the sandbox ('sandbox' is relaxed), but "
                "this program has no unsandboxed builder",
                job.store_dir.print(job.drv_path));
        return unsandboxed_->build(job);
    }
    std::string_view name() const override { return "relaxed"; }

private:
    std::unique_ptr<Builder> sandboxed_;
    std::unique_ptr<Builder> unsandboxed_;
};

std::unique_ptr<Builder> unsandboxed(const BuilderContext& context, const BuildUserOptions& build_users) {
    return context.unsandboxed ? context.unsandboxed() : std::make_unique<LocalBuilder>(build_users);
}

} // namespace

std::unique_ptr<Builder> make_builder(const Settings& settings, const BuilderContext& context) {
    const auto& mode = settings.sandbox;
    if (mode == "false") return unsandboxed(context, BuildUserOptions::from_settings(settings));

    const auto& support = sandbox_namespace_support();
    if (!support.available) {
        if (context.diverted_store)
            throw SandboxError(
                "{}; a store outside the logical store directory can only be built in the sandbox",
                support.problem);
        if (!settings.sandbox_fallback)
            throw SandboxError("{}; set 'sandbox-fallback = true' to build without a sandbox",
                               support.problem);
        auto builder = unsandboxed(context, BuildUserOptions::from_settings(settings));
        auto message = support.problem + "; building without a sandbox ('sandbox-fallback' is true)";
        if (context.warn)
            context.warn(message);
        else
            warn("{}", message);
        return builder;
    }

    auto options = SandboxOptions::from_settings(settings);
    if (mode == "relaxed")
        return std::make_unique<RelaxedBuilder>(std::make_unique<SandboxBuilder>(options), unsandboxed(context, BuildUserOptions::from_settings(settings)));
    if (context.diverted_store) options.reject_no_chroot = false;
    return std::make_unique<SandboxBuilder>(options);
}

} // namespace ferry
