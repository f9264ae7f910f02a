// `ferry build` (like nix-build), `ferry realise` (like nix-store -r) and `ferry log`.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>

#include "build_targets.hh"
#include "command.hh"
#include "ferry/sched/build_log.hh"
#include "ferry/store/derivation_store.hh"
#include "ferry/store/gc_roots.hh"
#include "ferry/util/compression.hh"
#include "ferry/util/file.hh"
#include "nix_process.hh"
#include "session.hh"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

struct BuildOptions {
    std::vector<std::string> args;
    bool dry_run = false;
    bool no_out_link = false;
    std::string out_link = "result";
    bool print_build_logs = false;
    bool check = false;
    /// `ferry build`: Nix expressions, --stdin, --from-eval-jobs (targets.args is `args`).
    bool evaluate = false;
    BuildTargetArgs targets;
};

/// Turns the arguments into targets: store paths (".drv^out" allowed), or derivation files anywhere,
/// which are added to the store first (each after the ones it depends on).
std::vector<Target> resolve_targets(LocalStore& store, const std::vector<std::string>& args) {
    std::vector<std::optional<Target>> targets(args.size());
    std::vector<Derivation> files;
    std::vector<size_t> file_index;
    for (size_t i = 0; i < args.size(); ++i) {
        const auto& arg = args[i];
        auto caret = arg.find('^');
        auto path_part = arg.substr(0, caret);
        if (names_store_path(store, path_part) || !fs::exists(path_part)) {
            auto path = parse_store_path_arg(store, path_part);
            targets[i] = Target::parse(
                store.store_dir(), store.print(path) + (caret == std::string::npos ? "" : arg.substr(caret)));
            continue;
        }
        if (caret != std::string::npos)
            throw UsageError("'{}': outputs can only be named for store paths", arg);
        files.push_back(parse_derivation_file(store.store_dir(), read_file(path_part), path_part));
        file_index.push_back(i);
    }
    auto added = add_derivations(store, std::move(files));
    for (size_t k = 0; k < added.size(); ++k)
        targets[file_index[k]] = Target{added[k], {}};
    std::vector<Target> out;
    for (auto& t : targets)
        out.push_back(std::move(*t));
    return out;
}

void print_missing(LocalStore& store, const MissingPaths& m) {
    auto mib = [](uint64_t b) { return double(b) / (1024.0 * 1024.0); };
    // One write: a closure of thousands of paths is thousands of lines.
    std::string out;
    if (!m.will_build.empty()) {
        // Where each would be built, once some would not be built here: " (on ssh://a)", " (on local,
        // ssh://a)"; without remote machines, Nix's lines.
        bool remote = std::any_of(m.build_machines.begin(), m.build_machines.end(),
                                  [](const auto& e) { return e.second != "local"; });
        out += fmt::format("these {} derivations will be built:\n", m.will_build.size());
        for (const auto& p : m.will_build) {
            out += "  " + store.print(p);
            if (auto it = m.build_machines.find(p); remote && it != m.build_machines.end())
                out += " (on " + it->second + ")";
            out += "\n";
        }
    }
    if (!m.will_substitute.empty()) {
        out += fmt::format("these {} paths will be fetched ({:.2f} MiB download, {:.2f} MiB unpacked):\n",
                           m.will_substitute.size(), mib(m.download_size), mib(m.nar_size));
        for (const auto& p : m.will_substitute)
            out += "  " + store.print(p) + "\n";
    }
    if (!m.unknown.empty()) {
        out += fmt::format("don't know how to build these {} paths:\n", m.unknown.size());
        for (const auto& p : m.unknown)
            out += "  " + store.print(p) + "\n";
    }
    if (out.empty()) return;
    out.pop_back();
    log_message(events(), Level::info, std::move(out)); // Nix prints it at its info level
}

/// ./result, ./result-dev, ./result-2 … as nix-build names them. The links point at the files: the
/// logical path itself when the store is at its logical place, else the physical copy. Each link is an
/// indirect garbage collector root.
void make_links(LocalStore& store, const std::vector<Target>& targets,
                const std::vector<RealisedOutputs>& realised, const std::string& base) {
    bool at_logical_place = store.config().real_store_dir() == fs::path(store.store_dir().dir());
    for (size_t i = 0; i < targets.size(); ++i) {
        if (!targets[i].is_build()) continue;
        for (const auto& [name, path] : realised[i]) {
            std::string link =
                base + (i ? "-" + std::to_string(i + 1) : "") + (name == "out" ? "" : "-" + name);
            auto target = at_logical_place ? fs::path(store.print(path)) : store.real_path(path);
            fs::path tmp = link + ".tmp-" + std::to_string(::getpid());
            fs::remove(tmp);
            fs::create_symlink(target, tmp);
            fs::rename(tmp, link);
            add_indirect_root(store.config(), link); // gcroots/auto/<hash> -> ./result, as nix-build
        }
    }
}

/// The targets of `ferry build` (evaluating, importing, reading them) or `ferry realise`.
BuildTargets build_targets(Session& session, const BuildOptions& o) {
    auto plain = [&](const std::vector<std::string>& args) { return resolve_targets(session.store(), args); };
    if (!o.evaluate) return BuildTargets{plain(o.args), 0};
    auto a = o.targets;
    a.args = o.args;
    a.eval.system = session.settings().system;
    return resolve_build_targets(session.store(), a, plain);
}

int run_build(const GlobalOptions& global, const BuildOptions& o, bool links) {
    Session session(global, load_settings(global), o.print_build_logs);
    BuildTargets resolved;
    try {
        resolved = build_targets(session, o);
    } catch (const Interrupted& e) {
        ferry::log_error("{}", e.what());
        return nix_signal_exit_code() ? nix_signal_exit_code() : 1;
    }
    auto& targets = resolved.targets;
    std::vector<RealisedOutputs> realised; // what each target stands for, from the worker
    try {
        if (o.dry_run) {
            session.run(
                [&](Worker& w) -> boost::asio::awaitable<void> {
                    auto missing =
                        co_await w.query_missing(targets, o.check ? BuildMode::check : BuildMode::normal);
                    print_missing(session.store(), missing);
                },
                false, true);
            return 0;
        }
        auto mode = o.check ? BuildMode::check : BuildMode::normal;
        session.run(
            [&](Worker& w) -> boost::asio::awaitable<void> {
                auto outputs = co_await w.realise(targets, mode);
                realised = std::move(outputs);
            },
            true);
    } catch (const Interrupted& e) {
        ferry::log_error("{}", e.what());
        return session.signal_exit_code() ? session.signal_exit_code() : 1;
    }
    for (const auto& outputs : realised)
        for (const auto& [_, path] : outputs)
            std::cout << session.store().print(path) << "\n";
    if (links && !o.no_out_link) make_links(session.store(), targets, realised, o.out_link);
    std::cout << std::flush;
    if (resolved.eval_errors) {
        ferry::log_error("{} attribute{} of --from-eval-jobs failed to evaluate and {} not built",
                         resolved.eval_errors, resolved.eval_errors == 1 ? "" : "s",
                         resolved.eval_errors == 1 ? "was" : "were");
        return 1;
    }
    return session.exit_code();
}

/// Writes the log at `file` to standard output a chunk at a time (memory flat whatever its size),
/// decompressing it when `compressed` (bzip2).
void stream_log(const fs::path& file, bool compressed) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SysError("opening build log '" + file.string() + "'");
    auto out = [](std::string_view s) { std::cout.write(s.data(), std::streamsize(s.size())); };
    auto decompressor = make_decompressor(compressed ? "bzip2" : "none", out);
    std::vector<char> buf(256 * 1024);
    for (;;) {
        size_t n = read_full(fd.get(), buf, "'" + file.string() + "'");
        if (n == 0) break;
        with_context(fmt::format("reading build log '{}'", file.string()),
                     [&] { decompressor->feed(std::string_view(buf.data(), n)); });
    }
    with_context(fmt::format("reading build log '{}'", file.string()), [&] { decompressor->finish(); });
    std::cout.flush();
}

int run_log(const GlobalOptions& global, const std::string& arg) {
    auto store = open_local_store(global);
    auto path = parse_store_path_arg(*store, arg);
    StorePath drv = path;
    if (!path.is_derivation()) {
        auto info = store->require_path_info(path);
        if (!info.deriver) throw Error("path '{}' has no known deriver, so no build log", store->print(path));
        drv = *info.deriver;
    }
    // As Nix: the compressed log first, then a plain one (compress-build-log = false, or older ferry).
    bool compressed = true;
    auto log = build_log_path(*store, drv, true);
    if (!fs::exists(log)) {
        compressed = false;
        log = build_log_path(*store, drv, false);
    }
    if (!fs::exists(log)) throw Error("build log of '{}' is not available", store->print(drv));
    stream_log(log, compressed);
    return 0;
}

void add_build_options(CLI::App* cmd, BuildOptions& o) {
    cmd->add_option("paths", o.args, ".drv paths (with ^outputs), derivation files, or store paths")
        ->required();
    cmd->add_flag("--dry-run", o.dry_run, "Show what would be fetched and built");
    cmd->add_flag("--check", o.check,
                  "Build the derivations given again (in the sandbox) and compare their outputs");
    cmd->add_flag("-L,--print-build-logs", o.print_build_logs, "Print the builders' output");
}

/// NAME VALUE options, one pair per occurrence.
void add_pair_option(CLI::App* cmd, const std::string& name,
                     std::vector<std::pair<std::string, std::string>>& into, const std::string& help) {
    cmd->add_option_function<std::vector<std::string>>(
           name,
           [&into](const std::vector<std::string>& v) {
               for (size_t i = 0; i + 1 < v.size(); i += 2)
                   into.emplace_back(v[i], v[i + 1]);
           },
           help)
        ->type_size(2)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

/// `ferry build`'s arguments for starting from Nix expressions (nix-build's), --stdin and --from-eval-jobs.
void add_eval_options(CLI::App* build, BuildOptions& o) {
    o.evaluate = true;
    build->get_option("paths")->required(false)->description(
        ".drv paths (with ^outputs), .drv or JSON derivation files, store paths, or Nix expression "
        "files (.nix, directories, <lookup paths>); none: ./default.nix");
    auto& t = o.targets;
    build->add_option("-A,--attr", t.eval.attrs, "Attribute of the Nix expressions to build (repeatable)")
        ->allow_extra_args(false);
    add_pair_option(build, "--arg", t.eval.args, "Pass NAME EXPR to the expressions' function");
    add_pair_option(build, "--argstr", t.eval.argstrs, "Pass NAME STRING to the expressions' function");
    build->add_option("-E,--expr", t.exprs, "Build the Nix expression EXPR (repeatable)")
        ->allow_extra_args(false);
    build->add_option("-I,--include", t.eval.include_paths, "Add PATH to Nix's search path")
        ->allow_extra_args(false);
    add_pair_option(build, "--eval-option", t.eval.options,
                    "Set a Nix option for the evaluation: NAME VALUE");
    build->add_flag("--stdin", t.from_stdin, "Also build the targets on standard input, one per line");
    build->add_option("--from-eval-jobs", t.eval_jobs,
                      "Also build the derivations of nix-eval-jobs' JSON lines in FILE (-: standard input)");
    build->add_option_function<std::string>(
        "--eval-store",
        [&t](const std::string& v) {
            t.eval_store = v;
            t.eval_store_set = true;
        },
        "The Nix store to read .drv targets from that ferry's store lacks (default: Nix's own)");
}

} // namespace

void register_build_commands(CLI::App& app, Context& ctx) {
    auto build_opts = std::make_shared<BuildOptions>();
    auto* build = app.add_subcommand("build", "Realise derivations and link ./result (like nix-build)");
    add_build_options(build, *build_opts);
    build->add_flag("--no-out-link", build_opts->no_out_link, "Do not create ./result links");
    build->add_option("-o,--out-link", build_opts->out_link, "Name of the result links")
        ->capture_default_str();
    add_eval_options(build, *build_opts);
    build->callback([&ctx, build_opts] {
        ctx.action = [&ctx, build_opts] { return run_build(ctx.global, *build_opts, true); };
    });

    auto realise_opts = std::make_shared<BuildOptions>();
    auto* realise = app.add_subcommand(
        "realise", "Make store paths valid, building or fetching them (like nix-store -r)");
    add_build_options(realise, *realise_opts);
    realise->callback([&ctx, realise_opts] {
        ctx.action = [&ctx, realise_opts] { return run_build(ctx.global, *realise_opts, false); };
    });

    auto log_arg = std::make_shared<std::string>();
    auto* log = app.add_subcommand("log", "Print the build log of a derivation or of one of its outputs");
    log->add_option("path", *log_arg, "A .drv or output path")->required();
    log->callback(
        [&ctx, log_arg] { ctx.action = [&ctx, log_arg] { return run_log(ctx.global, *log_arg); }; });
}

} // namespace ferry::cli
