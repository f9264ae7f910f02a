#include "nix_eval.hh"

#include <cstdlib>
#include <set>

#include "ferry/store/import_paths.hh"
#include "nix_process.hh"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

/// At most this many paths, or this many bytes of them, on one command line.
constexpr size_t kChunkPaths = 2000;
constexpr size_t kChunkBytes = 256 * 1024;

/// `paths` in order, cut into command-line-sized pieces.
std::vector<std::vector<std::string>> chunks(const std::vector<std::string>& paths) {
    std::vector<std::vector<std::string>> out;
    size_t bytes = 0;
    for (const auto& p : paths) {
        if (out.empty() || out.back().size() >= kChunkPaths || bytes + p.size() > kChunkBytes) {
            out.emplace_back();
            bytes = 0;
        }
        out.back().push_back(p);
        bytes += p.size() + 1;
    }
    return out;
}

std::vector<std::string> store_args(const std::string& store_uri) {
    if (store_uri.empty()) return {};
    return {"--store", store_uri};
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    for (size_t pos = 0, nl; pos < text.size(); pos = nl + 1) {
        nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    }
    return out;
}

/// `nix-store -qR` of `paths`, references first, each path once.
std::vector<StorePath> nix_closure(const NixEnvironment& nix, const StoreDir& dir,
                                   const std::string& store_uri, const std::vector<StorePath>& paths) {
    std::vector<std::string> printed;
    for (const auto& p : paths)
        printed.push_back(dir.print(p));
    std::vector<StorePath> out;
    std::set<StorePath> seen;
    // Each piece's closure comes references first, and a later piece only adds paths whose references
    // are in it or in an earlier one: the concatenation keeps that order.
    for (const auto& piece : chunks(printed)) {
        NixCommand query{"nix-store", store_args(store_uri), nix.env()};
        query.args.push_back("--query");
        query.args.push_back("--requisites");
        query.args.insert(query.args.end(), piece.begin(), piece.end());
        for (const auto& line : lines_of(nix_command_output(query))) {
            auto path = dir.parse(line);
            if (seen.insert(path).second) out.push_back(path);
        }
    }
    return out;
}

} // namespace

NixEnvironment::NixEnvironment() : tmp_(fs::temp_directory_path(), "ferry-nix") {
    if (!std::getenv("NIX_CONF_DIR") && !fs::exists("/etc/nix/nix.conf")) {
        fs::create_directories(tmp_.path() / "conf");
        write_file_atomic(tmp_.path() / "conf" / "nix.conf", "build-users-group =\n");
        env_.emplace_back("NIX_CONF_DIR", (tmp_.path() / "conf").string());
    }
}

NixEvaluator::NixEvaluator(const NixEnvironment& nix, const StoreDir& store_dir, NixEvalArgs args)
    : nix_(nix), store_dir_(store_dir), args_(std::move(args)) {
    store_uri_ = "local?root=" + (nix.dir() / "store").string();
    if (store_dir.dir() != "/nix/store") store_uri_ += "&store=" + store_dir.dir();
}

std::vector<std::string> NixEvaluator::common_args() const {
    std::vector<std::string> a{"--store", store_uri_, "--option", "system", args_.system};
    for (const auto& [name, value] : args_.options)
        a.insert(a.end(), {"--option", name, value});
    for (const auto& path : args_.include_paths)
        a.insert(a.end(), {"-I", path});
    for (const auto& attr : args_.attrs)
        a.insert(a.end(), {"-A", attr});
    for (const auto& [name, expr] : args_.args)
        a.insert(a.end(), {"--arg", name, expr});
    for (const auto& [name, value] : args_.argstrs)
        a.insert(a.end(), {"--argstr", name, value});
    return a;
}

std::vector<InstantiatedOutput> NixEvaluator::instantiate(const std::string& source, bool is_expr) {
    // GC roots instead of the warning that there are none: links in the temporary directory, which
    // nix-instantiate prints instead of the .drv paths they point to.
    auto roots = nix_.dir() / "roots" / std::to_string(++calls_);
    fs::create_directories(roots);
    NixCommand command{"nix-instantiate", common_args(), nix_.env()};
    command.args.insert(command.args.end(), {"--add-root", (roots / "drv").string()});
    if (is_expr) command.args.push_back("--expr");
    command.args.push_back(source);
    std::string out;
    int code = run_nix_command(command, [&](int fd) { out = read_all(fd, "the output of nix-instantiate"); });
    if (code != 0)
        throw Error("nix-instantiate could not evaluate {}'{}' (exit code {})",
                    is_expr ? "the expression " : "", source, code);
    std::vector<InstantiatedOutput> result;
    for (const auto& line : lines_of(out)) {
        auto bang = line.rfind('!');
        std::string link = line.substr(0, bang),
                    output = bang == std::string::npos ? "out" : line.substr(bang + 1);
        auto drv = with_context("reading what nix-instantiate printed", [&] {
            return store_dir_.parse(fs::is_symlink(link) ? fs::read_symlink(link).string() : link);
        });
        result.push_back({drv, output});
    }
    return result;
}

size_t import_from_nix_store(LocalStore& store, const NixEnvironment& nix, const std::string& store_uri,
                             const std::vector<StorePath>& paths) {
    if (paths.empty()) return 0;
    auto closure = nix_closure(nix, store.store_dir(), store_uri, paths);
    auto valid = store.query_valid_paths(StorePathSet(closure.begin(), closure.end()));
    std::vector<std::string> missing;
    for (const auto& p : closure)
        if (!valid.contains(p)) missing.push_back(store.print(p));
    size_t imported = 0;
    for (const auto& piece : chunks(missing)) {
        NixCommand dump{"nix-store", store_args(store_uri), nix.env()};
        dump.args.push_back("--export");
        dump.args.insert(dump.args.end(), piece.begin(), piece.end());
        int code = run_nix_command(dump, [&](int fd) {
            imported += import_paths(store, [fd](std::span<char> buf) {
                            return read_full(fd, buf, "nix-store --export");
                        }).size();
        });
        if (code != 0) throw Error("'nix-store --export' failed (exit code {})", code);
    }
    return imported;
}

} // namespace ferry::cli
