// Export streams (`nix-store --export`): the parser on streams written here and by Debian's Nix, and
// the import into the local store with ferry's own hashes and the content addresses the names prove.
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "ferry/store/content_address.hh"
#include "ferry/store/export_stream.hh"
#include "ferry/store/import_paths.hh"
#include "ferry/store/nar.hh"
#include "support/ferry_process.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

void put_number(std::string& s, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        s.push_back(char((v >> (8 * i)) & 0xff));
}

void put_string(std::string& s, std::string_view v) {
    put_number(s, v.size());
    s.append(v);
    s.append((8 - v.size() % 8) % 8, '\0');
}

std::string nar_of(const fs::path& tree) {
    std::string nar;
    dump_path(tree, [&](std::string_view chunk) { nar.append(chunk); });
    return nar;
}

/// One record as `nix-store --export` writes it: 1, the NAR, the magic, path, references, deriver, 0.
std::string record(const StoreDir& dir, const fs::path& tree, const StorePath& path, const StorePathSet& refs,
                   const std::optional<StorePath>& deriver = std::nullopt) {
    std::string s;
    put_number(s, 1);
    s += nar_of(tree);
    put_number(s, 0x4558494e);
    put_string(s, dir.print(path));
    put_number(s, refs.size());
    for (const auto& r : refs)
        put_string(s, dir.print(r));
    put_string(s, deriver ? dir.print(*deriver) : "");
    put_number(s, 0);
    return s;
}

ByteSource from_string(const std::string& data, size_t piece = 1 << 20) {
    auto pos = std::make_shared<size_t>(0);
    return [&data, pos, piece](std::span<char> buf) {
        size_t n = std::min({buf.size(), data.size() - *pos, piece});
        std::copy_n(data.data() + *pos, n, buf.data());
        *pos += n;
        return n;
    };
}

/// Three paths: a text file (builtins.toFile), a source tree referring to it, and an input-addressed
/// path with a deriver, referring to both.
struct Sample {
    TempDir files;
    StoreDir dir;
    std::string text = "a text file\n";
    StorePath text_path = dir.make_text_path("note.txt", text, {});
    fs::path tree = files.path() / "tree";
    StorePath tree_path{std::string(32, 'a') + "-placeholder"};
    StorePath built{"0123456789abcdfghijklmnpqrsvwxyz-built"};
    StorePath deriver{"0123456789abcdfghijklmnpqrsvwxyz-built.drv"};
    std::string stream;

    Sample() {
        write_file_atomic(files.path() / "note", text);
        fs::create_directories(tree / "sub");
        write_file_atomic(tree / "sub" / "file", dir.print(text_path));
        fs::create_symlink("sub/file", tree / "link");
        tree_path = dir.make_fixed_output_path(FileIngestionMethod::recursive,
                                               hash_path(HashAlgo::sha256, tree).hash, "tree", {text_path});
        write_file_atomic(files.path() / "built", dir.print(tree_path) + dir.print(text_path));
        stream = record(dir, files.path() / "note", text_path, {}) +
                 record(dir, tree, tree_path, {text_path}) +
                 record(dir, files.path() / "built", built, {tree_path, text_path}, deriver);
        put_number(stream, 0);
    }
};

} // namespace

TEST(ImportPaths, ImportsEachPathWithItsHashReferencesAndContentAddress) {
    Sample sample;
    TempStore store;
    auto paths = import_paths(*store.store, from_string(sample.stream, 1000));
    EXPECT_EQ(paths, (std::vector<StorePath>{sample.text_path, sample.tree_path, sample.built}));

    auto text = store->require_path_info(sample.text_path);
    EXPECT_EQ(text.ca, text_ca(hash_string(HashAlgo::sha256, sample.text)));
    EXPECT_EQ(text.nar_hash, hash_path(HashAlgo::sha256, sample.files.path() / "note").hash);
    EXPECT_EQ(read_file(store->real_path(sample.text_path)), sample.text);

    auto tree = store->require_path_info(sample.tree_path);
    auto tree_nar = hash_path(HashAlgo::sha256, sample.tree);
    EXPECT_EQ(tree.ca, fixed_output_ca(FileIngestionMethod::recursive, tree_nar.hash));
    EXPECT_EQ(tree.nar_hash, tree_nar.hash);
    EXPECT_EQ(tree.nar_size, tree_nar.nar_size);
    EXPECT_EQ(tree.references, StorePathSet{sample.text_path});
    EXPECT_EQ(fs::read_symlink(store->real_path(sample.tree_path) / "link"), "sub/file");

    auto built = store->require_path_info(sample.built);
    EXPECT_EQ(built.ca, std::nullopt) << "input-addressed";
    EXPECT_EQ(built.deriver, sample.deriver);
    EXPECT_EQ(built.references, (StorePathSet{sample.text_path, sample.tree_path}));
    EXPECT_TRUE(store.staging_leftovers().empty());

    // A second import reads everything and changes nothing.
    EXPECT_EQ(import_paths(*store.store, from_string(sample.stream)).size(), 3u);
    EXPECT_EQ(store->require_path_info(sample.built), built);
    EXPECT_TRUE(store.staging_leftovers().empty());
}

TEST(ImportPaths, ParsesTheSameWhateverTheChunks) {
    Sample sample;
    struct Recorder : ExportVisitor {
        NullNarVisitor nowhere;
        std::vector<std::string> seen;
        NarVisitor& begin_path() override { return nowhere; }
        void end_path(ExportedPath p) override {
            seen.push_back(p.path.to_string() + " " + p.nar.hash.to_base16() + " " +
                           std::to_string(p.nar.nar_size) + " " + std::to_string(p.references.size()) +
                           (p.deriver ? " " + p.deriver->to_string() : ""));
        }
    };
    Recorder whole, bytewise;
    ExportParser a(sample.dir, whole);
    a.feed(sample.stream);
    a.finish();
    ExportParser b(sample.dir, bytewise);
    for (char c : sample.stream)
        b.feed(std::string_view(&c, 1));
    b.finish();
    EXPECT_TRUE(b.done());
    EXPECT_EQ(b.offset(), sample.stream.size());
    ASSERT_EQ(whole.seen.size(), 3u);
    EXPECT_EQ(whole.seen, bytewise.seen);
}

TEST(ImportPaths, ConsumeStopsAtTheEndOfTheStream) {
    // The serve protocol's ImportPaths: what follows the stream is the next request, not the stream's.
    Sample sample;
    struct Counter : ExportVisitor {
        NullNarVisitor nowhere;
        int paths = 0;
        NarVisitor& begin_path() override { return nowhere; }
        void end_path(ExportedPath) override { ++paths; }
    };
    std::string next = "the next request";
    std::string bytes = sample.stream + next;
    for (size_t chunk : {bytes.size(), size_t(1), size_t(7), size_t(4096)}) {
        Counter counter;
        ExportParser parser(sample.dir, counter);
        size_t used = 0;
        while (!parser.done()) {
            auto piece = std::string_view(bytes).substr(used, chunk);
            size_t n = parser.consume(piece);
            EXPECT_TRUE(n == piece.size() || parser.done());
            used += n;
        }
        EXPECT_EQ(used, sample.stream.size()) << "chunks of " << chunk;
        EXPECT_EQ(counter.paths, 3);
        EXPECT_EQ(bytes.substr(used), next);
    }
}

TEST(ImportPaths, MalformedStreamsAreRefusedAndLeaveNothingHalfDone) {
    Sample sample;
    auto first_end = record(sample.dir, sample.files.path() / "note", sample.text_path, {}).size();
    struct Case {
        std::string name, stream, message;
        size_t valid;
    };
    auto wrong_magic = sample.stream;
    wrong_magic[first_end + 8 + nar_of(sample.tree).size()] = 'X';
    auto not_export = sample.stream;
    not_export[0] = 2;
    std::vector<Case> cases{
        {"truncated in a NAR", sample.stream.substr(0, first_end + 100), "truncated inside a NAR", 1},
        {"truncated in a record", sample.stream.substr(0, sample.stream.size() - 20), "truncated", 2},
        {"no final zero", sample.stream.substr(0, sample.stream.size() - 8), "truncated", 3},
        {"trailing bytes", sample.stream + "x", "data after the end", 3},
        {"wrong magic", wrong_magic, "wrong magic number", 1},
        {"not an export", not_export, "not a stream made by 'nix-store --export'", 0},
        // The tree's reference comes later than the tree: it is not valid when the tree is committed.
        {"reference missing", record(sample.dir, sample.tree, sample.tree_path, {sample.text_path}),
         "its reference '" + sample.dir.print(sample.text_path) + "' is not valid", 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TempStore store;
        try {
            import_paths(*store.store, from_string(c.stream, 64));
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
        }
        size_t valid = 0;
        for (const auto& p : {sample.text_path, sample.tree_path, sample.built})
            valid += store->is_valid_path(p);
        EXPECT_EQ(valid, c.valid);
        EXPECT_TRUE(store.staging_leftovers().empty());
        EXPECT_EQ(store.store_entries().size(), c.valid);
    }
}

// What Debian's nix-store --export writes for a derivation's closure (the .drv, a builtins.path tree,
// a builtins.toFile text) imports with Nix's NAR hashes and the content addresses Nix recorded.
TEST(ImportPaths, ReadsWhatNixExports) {
    if (::access("/usr/bin/nix-store", X_OK) != 0) GTEST_SKIP() << "Debian's nix-bin is not installed";
    Sample sample;
    auto w = sample.files.path().string();
    fs::create_directories(w + "/conf");
    write_file_atomic(w + "/conf/nix.conf", "build-users-group =\n");
    std::string env = "NIX_CONF_DIR=" + w + "/conf HOME=" + w + " XDG_CACHE_HOME=" + w + "/cache ";
    std::string nix_store = env + "nix-store --store 'local?root=" + w + "/nix' ";
    auto drv = shell_output(env + "nix-instantiate --store 'local?root=" + w + "/nix' 2>/dev/null -E '" +
                            "derivation { name = \"x\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; "
                            "src = builtins.path { path = " +
                            w +
                            "/tree; name = \"tree\"; }; "
                            "t = builtins.toFile \"t.txt\" \"hi\"; }'");
    ASSERT_TRUE(drv.has_value());
    drv->pop_back();
    auto closure = shell_output(nix_store + "-qR " + *drv);
    ASSERT_TRUE(closure.has_value());
    std::vector<std::string> paths;
    for (size_t pos = 0, nl; (nl = closure->find('\n', pos)) != std::string::npos; pos = nl + 1)
        paths.push_back(closure->substr(pos, nl - pos));
    ASSERT_EQ(paths.size(), 3u);
    std::string list;
    for (const auto& p : paths)
        list += " " + p;
    auto stream = shell_output(nix_store + "--export" + list);
    auto hashes = shell_output(nix_store + "-q --hash" + list);
    ASSERT_TRUE(stream && hashes);

    TempStore store;
    auto imported = import_paths(*store.store, from_string(*stream));
    ASSERT_EQ(imported.size(), 3u);
    size_t pos = 0;
    for (const auto& p : paths) {
        SCOPED_TRACE(p);
        auto info = store->require_path_info(sample.dir.parse(p));
        auto nl = hashes->find('\n', pos);
        EXPECT_EQ(info.nar_hash.to_string(HashFormat::nix32, true), hashes->substr(pos, nl - pos));
        pos = nl + 1;
        ASSERT_TRUE(info.ca.has_value());
        if (p.ends_with(".drv") || p.ends_with("-t.txt"))
            EXPECT_TRUE(info.ca->starts_with("text:sha256:")) << *info.ca;
        else
            EXPECT_EQ(*info.ca, fixed_output_ca(FileIngestionMethod::recursive, info.nar_hash));
    }
    EXPECT_EQ(imported.back(), sample.dir.parse(*drv)) << "references come first";
}
