#include "build_targets.hh"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "command.hh"
#include "nix_process.hh"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

std::string trim(const std::string& s) {
    auto start = s.find_first_not_of(" \t\r");
    if (start == std::string::npos) return "";
    return s.substr(start, s.find_last_not_of(" \t\r") - start + 1);
}

/// A target line: a store path, or a .drv path with "^out,dev" (or nix-instantiate's "!dev").
Target parse_target_line(const LocalStore& store, std::string line, const std::string& where) {
    return with_context(where, [&] {
        auto mark = line.find_first_of("^!");
        if (mark != std::string::npos) line[mark] = '^';
        auto path = parse_store_path_arg(store, line.substr(0, mark));
        return Target::parse(store.store_dir(),
                             store.print(path) + (mark == std::string::npos ? "" : line.substr(mark)));
    });
}

std::vector<Target> read_stdin_targets(const LocalStore& store) {
    std::vector<Target> out;
    std::string line;
    for (size_t n = 1; std::getline(std::cin, line); ++n)
        if (auto t = trim(line); !t.empty())
            out.push_back(parse_target_line(store, t, fmt::format("standard input, line {}", n)));
    return out;
}

/// nix-eval-jobs' lines: each drvPath is a target (all its outputs); a line with an `error` is
/// reported and counted.
void read_eval_jobs(const LocalStore& store, std::istream& in, const std::string& name, BuildTargets& out) {
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
        if (trim(line).empty()) continue;
        auto where = fmt::format("'{}', line {}", name, n);
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw FormatError("{}: not a JSON object", where);
        std::string attr = j.contains("attr") && j["attr"].is_string() ? j["attr"].get<std::string>() : "?";
        if (j.contains("error")) {
            auto error = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
            ferry::log_error("attribute '{}' failed to evaluate, skipped: {}", attr, trim(error));
            ++out.eval_errors;
            continue;
        }
        if (!j.contains("drvPath") || !j["drvPath"].is_string())
            throw FormatError("{}: no drvPath (and no error) for attribute '{}'", where, attr);
        auto target = parse_target_line(store, j["drvPath"].get<std::string>(), where);
        if (!target.is_build())
            throw FormatError("{}: drvPath '{}' is not a .drv path", where, j["drvPath"].get<std::string>());
        out.targets.push_back(std::move(target));
    }
}

bool nix_store_available() {
    try {
        find_nix_program("nix-store");
        return true;
    } catch (const Error&) {
        return false;
    }
}

/// The .drv targets that ferry's store lacks but a Nix store has: all of them with --eval-store, else
/// those whose files are in Nix's default store (/nix/store/…), when nix-store is installed.
std::vector<StorePath> drvs_to_import(LocalStore& store, const BuildTargetArgs& a,
                                      const std::vector<Target>& targets) {
    StorePathSet drvs;
    for (const auto& t : targets)
        if (t.is_build()) drvs.insert(t.path);
    auto valid = store.query_valid_paths(drvs);
    std::vector<StorePath> out;
    for (const auto& d : drvs)
        if (!valid.contains(d) && (a.eval_store_set || fs::exists(store.print(d)))) out.push_back(d);
    if (!a.eval_store_set && !out.empty() && !nix_store_available()) out.clear();
    return out;
}

} // namespace

bool names_store_path(const LocalStore& store, const std::string& arg) {
    if (store.store_dir().is_in_store(arg)) return true;
    auto rel = fs::absolute(arg).lexically_normal().lexically_relative(store.config().real_store_dir());
    return !rel.empty() && *rel.begin() != "." && *rel.begin() != "..";
}

bool is_nix_source(const LocalStore& store, const std::string& arg) {
    if (names_store_path(store, arg)) return false;
    if (arg.size() > 2 && arg.front() == '<' && arg.back() == '>') return true;
    if (arg.find("://") != std::string::npos || arg.ends_with(".nix")) return true;
    std::error_code ec;
    auto status = fs::status(arg, ec);
    if (ec || !fs::exists(status)) return false;
    return fs::is_directory(status) || !(arg.ends_with(".drv") || arg.ends_with(".json"));
}

namespace {

/// The arguments sorted: each one a Nix source (evaluated in place) or a plain one (resolved together);
/// then the -E expressions, or ./default.nix when nothing at all was given.
struct SortedArgs {
    std::vector<std::pair<std::string, bool>> sources; // text, is_expr
    std::vector<std::string> plain;
    std::vector<std::optional<size_t>> slots; // per argument: its source index, or none for plain
};

SortedArgs sort_args(const LocalStore& store, const BuildTargetArgs& a) {
    SortedArgs s;
    for (const auto& arg : a.args) {
        bool nix = is_nix_source(store, arg);
        s.slots.push_back(nix ? std::optional(s.sources.size()) : std::nullopt);
        if (nix)
            s.sources.emplace_back(arg, false);
        else
            s.plain.push_back(arg);
    }
    for (const auto& e : a.exprs)
        s.sources.emplace_back(e, true);
    if (a.args.empty() && a.exprs.empty() && !a.from_stdin && a.eval_jobs.empty())
        s.sources.emplace_back("./default.nix", false);
    bool eval_args = !a.eval.attrs.empty() || !a.eval.args.empty() || !a.eval.argstrs.empty();
    if (eval_args && s.sources.empty())
        throw UsageError("-A, --arg and --argstr apply to Nix expressions, and no .nix file or -E was given");
    return s;
}

/// Evaluates every source and imports their derivations' closures; the outputs per source.
std::vector<std::vector<InstantiatedOutput>> evaluate(LocalStore& store, const NixEnvironment& nix,
                                                      const BuildTargetArgs& a, const SortedArgs& s) {
    NixEvaluator evaluator(nix, store.store_dir(), a.eval);
    std::vector<std::vector<InstantiatedOutput>> evaluated;
    std::vector<StorePath> drvs;
    for (const auto& [text, is_expr] : s.sources) {
        evaluated.push_back(evaluator.instantiate(text, is_expr));
        for (const auto& o : evaluated.back())
            drvs.push_back(o.drv);
    }
    import_from_nix_store(store, nix, evaluator.store_uri(), drvs);
    return evaluated;
}

/// The targets of --stdin and --from-eval-jobs.
BuildTargets read_targets(const LocalStore& store, const BuildTargetArgs& a) {
    BuildTargets read;
    if (a.from_stdin) read.targets = read_stdin_targets(store);
    if (a.eval_jobs == "-") {
        read_eval_jobs(store, std::cin, "standard input", read);
    } else if (!a.eval_jobs.empty()) {
        std::ifstream in(a.eval_jobs);
        if (!in) throw SysError("opening '" + a.eval_jobs + "'");
        read_eval_jobs(store, in, a.eval_jobs, read);
    }
    return read;
}

} // namespace

BuildTargets resolve_build_targets(LocalStore& store, const BuildTargetArgs& a,
                                   const PlainResolver& resolve_plain) {
    if (a.from_stdin && a.eval_jobs == "-")
        throw UsageError("--stdin and --from-eval-jobs - both want standard input");
    auto sorted = sort_args(store, a);
    std::optional<NixEnvironment> nix;
    std::vector<std::vector<InstantiatedOutput>> evaluated;
    if (!sorted.sources.empty()) evaluated = evaluate(store, nix.emplace(), a, sorted);
    auto add = [](const std::vector<InstantiatedOutput>& outs, std::vector<Target>& into) {
        for (const auto& o : outs)
            into.push_back(Target{o.drv, {o.output}});
    };

    BuildTargets result;
    auto others = resolve_plain(sorted.plain);
    size_t next_plain = 0;
    for (const auto& slot : sorted.slots) {
        if (slot)
            add(evaluated[*slot], result.targets);
        else
            result.targets.push_back(others[next_plain++]);
    }
    for (size_t i = sorted.slots.size() - sorted.plain.size(); i < evaluated.size(); ++i)
        add(evaluated[i], result.targets);
    auto read = read_targets(store, a);
    result.eval_errors = read.eval_errors;
    // The derivations named otherwise than by evaluation may have to come from a Nix store.
    others.insert(others.end(), read.targets.begin(), read.targets.end());
    if (auto missing = drvs_to_import(store, a, others); !missing.empty()) {
        if (!nix) nix.emplace();
        import_from_nix_store(store, *nix, a.eval_store_set ? a.eval_store : "", missing);
    }
    result.targets.insert(result.targets.end(), read.targets.begin(), read.targets.end());
    return result;
}

} // namespace ferry::cli
