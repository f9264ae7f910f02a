// `ferry store add|dump|restore|import`: putting contents into the local store and NARs in and out.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "command.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

struct AddOptions {
    std::string path;
    std::string name;
    bool flat = false;
    bool text = false;
    std::vector<std::string> references;
};

struct ImportOptions {
    std::string nar;
    std::string path;
    std::string nar_hash;
    uint64_t nar_size = 0;
    std::vector<std::string> references;
    std::string deriver;
    std::string ca;
    std::vector<std::string> signatures;
};

int run_add(const Context& ctx, const AddOptions& o) {
    auto store = open_local_store(ctx.global);
    std::string name = o.name;
    if (name.empty()) name = fs::absolute(o.path).lexically_normal().filename().string();
    if (name.empty()) throw UsageError("cannot derive a name from '{}'; pass --name", o.path);
    if (o.text) {
        // A text path, as builtins.toFile makes: its path depends on its contents and references.
        StorePathSet refs;
        for (const auto& r : o.references)
            refs.insert(parse_store_path_arg(*store, r));
        std::cout << store->print(store->add_text(name, read_file(o.path), refs)) << "\n";
        return 0;
    }
    if (!o.references.empty()) throw UsageError("--reference goes with --text");
    auto method = o.flat ? FileIngestionMethod::flat : FileIngestionMethod::recursive;
    std::cout << store->print(store->add_to_store(o.path, method, name)) << "\n";
    return 0;
}

int run_dump(const Context& ctx, const std::string& arg) {
    fs::path source = arg;
    StoreDir dir(ctx.global.store_dir);
    if (dir.is_in_store(arg)) {
        // A logical store path reads the store's copy, which must be valid.
        auto store = open_local_store(ctx.global);
        StorePath sp = dir.to_store_path(arg);
        if (!store->is_valid_path(sp)) throw InvalidPath("path '{}' is not valid", store->print(sp));
        source = store->real_path(sp);
        // Never a trailing slash: it would make the root symlink of a path be followed.
        auto rest = fs::path(arg.substr(dir.print(sp).size())).relative_path().lexically_normal();
        if (!rest.empty() && rest != ".") source /= rest;
    }
    with_context("dumping '" + arg + "'", [&] { dump_path_to_fd(source, STDOUT_FILENO); });
    return 0;
}

int run_restore(const std::string& dest) {
    struct stat st;
    if (::lstat(dest.c_str(), &st) == 0) throw Error("cannot restore into '{}': it already exists", dest);
    with_context("restoring a NAR into '" + dest + "'", [&] { restore_nar_from_fd(STDIN_FILENO, dest); });
    return 0;
}

ValidPathInfo import_info(const LocalStore& store, const ImportOptions& o) {
    ValidPathInfo info(parse_store_path_arg(store, o.path));
    info.nar_hash = Hash::parse(o.nar_hash, HashAlgo::sha256);
    info.nar_size = o.nar_size;
    for (const auto& r : o.references)
        info.references.insert(parse_store_path_arg(store, r));
    if (!o.deriver.empty()) info.deriver = parse_store_path_arg(store, o.deriver);
    if (!o.ca.empty()) info.ca = o.ca;
    info.signatures.insert(o.signatures.begin(), o.signatures.end());
    return info;
}

int run_import(const Context& ctx, const ImportOptions& o) {
    auto store = open_local_store(ctx.global);
    ValidPathInfo info = import_info(*store, o);
    UniqueFd owned;
    int fd = STDIN_FILENO;
    if (o.nar != "-") {
        owned.reset(::open(o.nar.c_str(), O_RDONLY | O_CLOEXEC));
        if (!owned) throw SysError("opening NAR file '" + o.nar + "'");
        fd = owned.get();
    }
    store->import_nar(fd, std::move(info));
    return 0;
}

void add_import_command(CLI::App& store, Context& ctx) {
    auto o = std::make_shared<ImportOptions>();
    auto* cmd = store.add_subcommand("import",
                                     "Unpack a NAR as a store path, checking its NAR hash, and register it");
    cmd->add_option("nar", o->nar, "NAR file ('-' for standard input)")->required();
    cmd->add_option("--path", o->path, "Store path the NAR is the contents of")->required();
    cmd->add_option("--nar-hash", o->nar_hash, "Expected sha256 NAR hash (SRI, sha256:nix32, base16...)")
        ->required();
    cmd->add_option("--nar-size", o->nar_size, "Expected NAR size in bytes");
    cmd->add_option("--reference", o->references, "A store path the path refers to (repeatable)");
    cmd->add_option("--deriver", o->deriver, "The derivation that produced the path");
    cmd->add_option("--ca", o->ca, "Content address (e.g. fixed:r:sha256:...)");
    cmd->add_option("--sig", o->signatures, "A signature name:base64 (repeatable)");
    cmd->callback([&ctx, o] { ctx.action = [&ctx, o] { return run_import(ctx, *o); }; });
}

} // namespace

void register_store_commands(CLI::App& app, Context& ctx) {
    auto* store = app.add_subcommand("store", "Work with the local store");
    store->require_subcommand(1);

    auto add = std::make_shared<AddOptions>();
    auto* add_cmd =
        store->add_subcommand("add", "Copy a file or tree into the store and print its store path");
    add_cmd->add_option("path", add->path, "File or directory to add")->required();
    add_cmd->add_option("-n,--name", add->name, "Name of the store path (default: the file's name)");
    add_cmd->add_flag("--flat", add->flat,
                      "Hash the file's contents instead of its NAR (a single regular file)");
    add_cmd->add_flag("--text", add->text, "Add a regular file as a text path (like builtins.toFile)");
    add_cmd->add_option("--reference", add->references, "With --text: a store path the text refers to");
    add_cmd->callback([&ctx, add] { ctx.action = [&ctx, add] { return run_add(ctx, *add); }; });

    auto dump_path_arg = std::make_shared<std::string>();
    auto* dump = store->add_subcommand("dump", "Write the NAR serialisation of a path to standard output");
    dump->add_option("path", *dump_path_arg, "A store path (read from the store) or any local path")
        ->required();
    dump->callback([&ctx, dump_path_arg] {
        ctx.action = [&ctx, dump_path_arg] { return run_dump(ctx, *dump_path_arg); };
    });

    auto restore_dir = std::make_shared<std::string>();
    auto* restore =
        store->add_subcommand("restore", "Unpack a NAR read from standard input into a directory");
    restore->add_option("dir", *restore_dir, "Destination, which must not exist")->required();
    restore->callback(
        [&ctx, restore_dir] { ctx.action = [restore_dir] { return run_restore(*restore_dir); }; });

    add_import_command(*store, ctx);
    add_gc_commands(*store, ctx);
    add_verify_commands(*store, ctx);
}

} // namespace ferry::cli
