// The Worker's machines: which machines can build a derivation (this one and the remote ones of
// `builders`, by Nix's rules), their slots, failed machines, and the critical-path heights that order
// the builds waiting for a slot.

#include "ferry/sched/worker.hh"
#include "machine_slots.hh"
#include "remote_uploads.hh"

namespace ferry {

namespace {

std::string join(const auto& words, std::string_view sep = ", ") {
    std::string out;
    for (const auto& w : words)
        out += (out.empty() ? "" : std::string(sep)) + std::string(w);
    return out;
}

} // namespace

void Worker::init_machines() {
    std::vector<MachineSlots::Machine> machines{{"local", options_.max_jobs, 1.0}};
    for (auto* m : options_.machines) {
        const auto& spec = m->spec();
        machines.push_back({spec.uri, spec.max_jobs, spec.speed_factor > 0 ? spec.speed_factor : 1.0});
        uploads_.push_back(std::make_unique<RemoteUploads>(executor(), *m));
    }
    MachineSlots::Backoff backoff{options_.machine_backoff, options_.machine_max_backoff,
                                  std::max(1u, options_.machine_max_failures)};
    slots_ = std::make_unique<MachineSlots>(executor(), std::move(machines), backoff);
}

std::vector<size_t> Worker::build_candidates(const Derivation& drv, const StorePath& drv_path, bool check) {
    std::vector<size_t> out;
    bool here = can_build(options_.platform, drv);
    if (here && options_.max_jobs > 0) out.push_back(0);
    auto features = required_system_features(drv);
    if (!check)
        for (size_t i = 0; i < options_.machines.size(); ++i)
            if (options_.machines[i]->spec().max_jobs > 0 &&
                options_.machines[i]->spec().can_build(drv.platform, features))
                out.push_back(i + 1);
    if (!out.empty() || dry_run_) return out;
    auto path = store_.print(drv_path);
    if (!here) {
        if (!options_.machines.empty()) {
            // Nix's build hook says this (a warning) before the platform's error.
            std::string text =
                fmt::format("warning: Failed to find a machine for remote build!\nderivation: "
                            "{}\nrequired (system, features): ({}, {})\n{} available machines:\n"
                            "(systems, maxjobs, supportedFeatures, mandatoryFeatures)",
                            drv_path.to_string(), drv.platform, join(features), options_.machines.size());
            for (auto* m : options_.machines) {
                const auto& s = m->spec();
                text += fmt::format("\n({}, {}, {}, {})", join(s.systems), s.max_jobs,
                                    join(s.supported_features), join(s.mandatory_features));
            }
            progress_.message(text);
        }
        check_platform(options_.platform, drv, path);
    }
    if (options_.machines.empty())
        throw BuildError(
            "cannot build '{}': unable to start any build; either increase '--max-jobs' or enable "
            "remote builds",
            path);
    throw BuildError(
        "cannot build '{}': unable to start any build; remote machines may not have all required "
        "system features",
        path);
}

std::string Worker::describe_machines(const std::vector<size_t>& candidates) const {
    std::vector<std::string> names;
    for (auto m : candidates)
        names.push_back(m == 0 ? "local" : options_.machines.at(m - 1)->spec().uri);
    return join(names);
}

void Worker::machine_down(size_t m, const std::string& reason) {
    bool given_up = false;
    auto wait = slots_->mark_down(m, given_up);
    const auto& name = slots_->machine(m).name;
    if (given_up)
        progress_.message(
            fmt::format("warning: machine '{}' failed {} times in a row, not using it any more: {}", name,
                        options_.machine_max_failures, reason));
    else if (wait)
        progress_.message(fmt::format("warning: machine '{}' is down, not trying it again for {} ms: {}",
                                      name, wait->count(), reason));
}

unsigned Worker::height(const StorePath& drv) const {
    auto it = heights_.find(drv);
    return it == heights_.end() ? 0 : it->second;
}

void Worker::raise_height(const StorePath& drv, unsigned height) {
    // Through the derivations read so far; an explicit stack, as chains can be long.
    std::vector<std::pair<StorePath, unsigned>> todo{{drv, height}};
    while (!todo.empty()) {
        auto [d, h] = todo.back();
        todo.pop_back();
        // Without a cycle no height exceeds the number of derivations; derivations that refer to each
        // other (an error the goals report) would raise each other for ever.
        if (h > heights_.size() + derivations_.size()) continue;
        auto [it, inserted] = heights_.emplace(d, h);
        if (!inserted) {
            if (it->second >= h) continue;
            it->second = h;
        }
        slots_->raise_height(d, h);
        if (auto parsed = derivations_.find(d); parsed != derivations_.end())
            for (const auto& [input, _] : parsed->second->input_drvs)
                todo.emplace_back(input, h + 1);
    }
}

} // namespace ferry
