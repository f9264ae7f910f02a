#pragma once
// The planner: the one piece of the scheduler that decides, per wanted path or derivation output,
// whether it is valid, will be substituted (and from which cache), built, or checked, and what happens
// after a failed substitution. The goals carry its decisions out; a dry run (Worker::query_missing)
// runs the same goals, which record the decisions instead, so the two cannot disagree.

#include <optional>

#include <boost/asio/awaitable.hpp>

#include "ferry/sched/worker.hh"

namespace ferry {

struct Decision {
    enum class Kind {
        valid,      ///< nothing to do
        substitute, ///< fetch it from `from`
        build,      ///< build the derivation
        check,      ///< build the derivation again and compare (`--check`)
        unknown,    ///< nobody can provide it
    };
    Kind kind = Kind::valid;
    std::optional<SubstituteInfo> from;
};

class Planner {
public:
    explicit Planner(Worker& worker) : worker_(worker) {}

    /// A wanted store path (a reference, an input source, a path target): valid, substitute, unknown.
    boost::asio::awaitable<Decision> decide_path(const StorePath& path);
    /// A wanted output `out` of a derivation (not a target being checked): valid, substitute, build.
    boost::asio::awaitable<Decision> decide_output(const StorePath& out);
    /// A derivation whose outputs are `outputs`, asked to be built in `mode`: valid (all its outputs are
    /// valid: nothing to build), build, or check.
    boost::asio::awaitable<Decision> decide_build(const StorePathSet& outputs, BuildMode mode);
    /// After substituting a wanted output failed: build it (--fallback), or give up (nullopt).
    std::optional<Decision> after_failed_substitution() const;

private:
    Worker& worker_;
};

} // namespace ferry
