// `ferry hash path|file|convert`: like `nix hash path|file` and `nix hash convert`.
#include <iostream>

#include "command.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/error.hh"
#include "ferry/util/hash.hh"

namespace ferry::cli {

namespace {

struct HashOptions {
    std::string algo = "sha256";
    std::string format = "sri";
    std::vector<std::string> args;
};

HashFormat parse_format(const std::string& name) {
    if (name == "base16") return HashFormat::base16;
    if (name == "nix32" || name == "base32") return HashFormat::nix32;
    if (name == "base64") return HashFormat::base64;
    if (name == "sri") return HashFormat::sri;
    throw UsageError("unknown hash format '{}' (expected base16, nix32, base64 or sri)", name);
}

HashAlgo parse_algo(const std::string& name) {
    if (auto a = try_parse_hash_algo(name)) return *a;
    throw UsageError("unknown hash algorithm '{}' (expected md5, sha1, sha256 or sha512)", name);
}

// Like Nix: SRI carries its algorithm, the other encodings are printed bare.
std::string print(const Hash& h, HashFormat f) {
    return h.to_string(f, f == HashFormat::sri);
}

void add_common(CLI::App* cmd, HashOptions& o, const char* what) {
    cmd->add_option("--type,--algo", o.algo, "Hash algorithm: md5, sha1, sha256, sha512")
        ->capture_default_str();
    cmd->add_option("--format,--to", o.format, "Output: base16, nix32 (base32), base64, sri")
        ->capture_default_str();
    cmd->add_option("args", o.args, what)->required();
}

} // namespace

void register_hash_commands(CLI::App& app, Context& ctx) {
    auto* hash = app.add_subcommand("hash", "Compute and convert hashes");
    hash->require_subcommand(1);
    auto opts = std::make_shared<HashOptions>();

    auto* path = hash->add_subcommand("path", "Hash the NAR serialisation of paths (like `nix hash path`)");
    add_common(path, *opts, "Paths to hash");
    path->callback([&ctx, opts] {
        ctx.action = [opts] {
            auto algo = parse_algo(opts->algo);
            auto fmt = parse_format(opts->format);
            for (const auto& p : opts->args)
                std::cout << print(
                                 with_context("hashing '" + p + "'", [&] { return hash_path(algo, p).hash; }),
                                 fmt)
                          << "\n";
            return 0;
        };
    });

    auto* file = hash->add_subcommand("file", "Hash the contents of files (like `nix hash file`)");
    add_common(file, *opts, "Files to hash");
    file->callback([&ctx, opts] {
        ctx.action = [opts] {
            auto algo = parse_algo(opts->algo);
            auto fmt = parse_format(opts->format);
            for (const auto& p : opts->args)
                std::cout << print(hash_file(algo, p), fmt) << "\n";
            return 0;
        };
    });

    auto* convert =
        hash->add_subcommand("convert", "Convert hashes between encodings (like `nix hash convert`)");
    auto copts = std::make_shared<HashOptions>();
    copts->algo.clear();
    convert->add_option("--algo,--type", copts->algo, "Algorithm of hashes that do not name it");
    convert->add_option("--to,--format", copts->format, "Output: base16, nix32 (base32), base64, sri")
        ->capture_default_str();
    convert->add_option("hashes", copts->args, "Hashes to convert")->required();
    convert->callback([&ctx, copts] {
        ctx.action = [copts] {
            auto fmt = parse_format(copts->format);
            std::optional<HashAlgo> algo;
            if (!copts->algo.empty()) algo = parse_algo(copts->algo);
            for (const auto& h : copts->args)
                std::cout << print(Hash::parse(h, algo), fmt) << "\n";
            return 0;
        };
    });
}

} // namespace ferry::cli
