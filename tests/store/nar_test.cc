#include "ferry/store/nar.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "ferry/util/hash.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDirTree = "a26lm7bpwrazrrmrq64m8ljq28hbmpjk";

fs::path nar_fixtures() {
    return test::compat_dir() / "nar";
}

std::vector<fs::path> fixture_nars() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(nar_fixtures()))
        if (e.path().extension() == ".nar") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string dump_to_string(const fs::path& path) {
    std::string out;
    dump_path(path, [&](std::string_view chunk) { out += chunk; });
    return out;
}

/// Parses `data` into `visitor` in chunks of `chunk` bytes.
void feed_in_chunks(NarParser& parser, std::string_view data, size_t chunk) {
    for (size_t i = 0; i < data.size(); i += chunk)
        parser.feed(data.substr(i, chunk));
    parser.finish();
}

/// Restores `data` through a NarRestorer fed `chunk` bytes at a time.
void restore_in_chunks(std::string_view data, const fs::path& dest, size_t chunk) {
    NarRestorer restorer(dest);
    NarParser parser(restorer);
    feed_in_chunks(parser, data, chunk);
    restorer.commit();
}

/// The message of the FormatError that `fn` throws, or "" with a test failure.
template <typename Fn> std::string format_error_of(Fn&& fn) {
    try {
        fn();
    } catch (const FormatError& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected a FormatError, got: " << e.what();
        return "";
    }
    ADD_FAILURE() << "expected a FormatError, got none";
    return "";
}

/// Records the events a parser emits, one line each.
class RecordingVisitor final : public NarVisitor {
public:
    std::vector<std::string> events;
    std::vector<const char*> slice_starts; // where each file_contents() slice points

    void create_directory(std::string_view path) override {
        events.push_back("dir '" + std::string(path) + "'");
    }
    void close_directory() override { events.push_back("end dir"); }
    void create_regular_file(std::string_view path, bool executable, uint64_t size) override {
        events.push_back(fmt::format("file '{}'{} {}", path, executable ? " x" : "", size));
        contents_.clear();
    }
    void file_contents(std::string_view chunk) override {
        EXPECT_FALSE(chunk.empty());
        slice_starts.push_back(chunk.data());
        contents_ += chunk;
    }
    void close_file() override { events.push_back("data " + std::to_string(contents_.size())); }
    void create_symlink(std::string_view path, std::string_view target) override {
        events.push_back(fmt::format("symlink '{}' -> '{}'", path, target));
    }

private:
    std::string contents_;
};

/// Building NARs by hand, for inputs the corpus does not hold.
std::string nar_string(std::string_view s) {
    std::string out;
    for (int i = 0; i < 8; ++i)
        out += char(uint8_t(uint64_t(s.size()) >> (8 * i)));
    out += s;
    out.append(nar_padding(s.size()), '\0');
    return out;
}

std::string nar_tokens(std::initializer_list<std::string_view> tokens) {
    std::string out;
    for (auto t : tokens)
        out += nar_string(t);
    return out;
}

std::string nar_regular(std::string_view contents, bool executable = false) {
    std::string out = nar_tokens({"(", "type", "regular"});
    if (executable) out += nar_tokens({"executable", ""});
    return out + nar_tokens({"contents", contents, ")"}); // the size field has the shape of a length
}

/// `depth` directories nested in each other, each holding only the next one ("d").
std::string nested_directories(size_t depth) {
    std::string out = nar_string(kNarMagic);
    for (size_t i = 0; i < depth; ++i) {
        if (i > 0) out += nar_tokens({"entry", "(", "name", "d", "node"});
        out += nar_tokens({"(", "type", "directory"});
    }
    for (size_t i = 0; i < depth; ++i) {
        out += nar_string(")");                    // the directory node
        if (i + 1 < depth) out += nar_string(")"); // the entry holding it
    }
    return out;
}

struct PathInfo {
    std::string nar_hash;
    uint64_t nar_size;
};

/// path-info.json by the hash part of each store path.
std::map<std::string, PathInfo> load_path_infos() {
    std::ifstream in(test::compat_dir() / "path-info.json");
    auto json = nlohmann::json::parse(in);
    std::map<std::string, PathInfo> out;
    for (const auto& info : json) {
        auto base = fs::path(info.at("path").get<std::string>()).filename().string();
        out[base.substr(0, 32)] =
            PathInfo{info.at("narHash").get<std::string>(), info.at("narSize").get<uint64_t>()};
    }
    return out;
}

} // namespace

// --- Nix's own NARs -----------------------------------------------------------------------------

TEST(NarCompat, EveryFixtureRoundTripsByteForByteWithNixsHashAndSize) {
    auto infos = load_path_infos();
    auto nars = fixture_nars();
    ASSERT_GE(nars.size(), 15u);
    for (const auto& file : nars) {
        SCOPED_TRACE(file.filename().string());
        std::string data = read_file(file);
        auto info = infos.find(file.stem().string());
        ASSERT_NE(info, infos.end()) << "no path info for this NAR";
        TempDir tmp;
        fs::path out = tmp.path() / "out";
        EXPECT_EQ(restore_nar(data, out), data.size());
        EXPECT_EQ(dump_to_string(out), data);
        auto hashed = hash_path(HashAlgo::sha256, out);
        EXPECT_EQ(hashed.hash.to_string(HashFormat::sri), info->second.nar_hash);
        EXPECT_EQ(hashed.nar_size, info->second.nar_size);
        EXPECT_EQ(validate_nar(data).hash, hashed.hash);
    }
}

TEST(NarCompat, RestoringInOneAndSevenByteChunksGivesTheSameTree) {
    for (const auto& file : fixture_nars()) {
        std::string data = read_file(file);
        for (size_t chunk : {size_t(1), size_t(7)}) {
            SCOPED_TRACE(file.filename().string() + " in chunks of " + std::to_string(chunk));
            TempDir tmp;
            restore_in_chunks(data, tmp.path() / "out", chunk);
            EXPECT_EQ(dump_to_string(tmp.path() / "out"), data);
        }
    }
}

TEST(NarCompat, DirTreeRestoresEveryKindOfNode) {
    TempDir tmp;
    fs::path out = tmp.path() / "out";
    restore_nar(read_file(nar_fixtures() / (std::string(kDirTree) + ".nar")), out);
    struct stat st;
    ASSERT_EQ(::lstat((out / "run.sh").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR));
    ASSERT_EQ(::lstat((out / "sub" / "file.txt").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode) && !(st.st_mode & S_IXUSR));
    EXPECT_EQ(read_file(out / "sub" / "file.txt").size(), 5u);
    EXPECT_EQ(fs::file_size(out / "sub" / "deeper" / "big.txt"), 5000u);
    EXPECT_TRUE(fs::is_symlink(out / "dangling"));
    EXPECT_EQ(fs::read_symlink(out / "dangling"), "/nonexistent/target");
    EXPECT_FALSE(fs::exists(out / "dangling"));
    EXPECT_EQ(fs::read_symlink(out / "link"), "sub/file.txt");
    EXPECT_EQ(read_file(out / "link"), read_file(out / "sub" / "file.txt"));
    EXPECT_TRUE(fs::is_regular_file(out / "empty") && fs::file_size(out / "empty") == 0);
    EXPECT_TRUE(fs::is_directory(out / "emptydir") && fs::is_empty(out / "emptydir"));
    EXPECT_TRUE(fs::is_regular_file(out / "name with spaces"));
}

TEST(NarParser, DirTreeEventsAreInArchiveOrderWithRelativePaths) {
    std::string data = read_file(nar_fixtures() / (std::string(kDirTree) + ".nar"));
    RecordingVisitor visitor;
    NarParser parser(visitor);
    parser.feed(data);
    parser.finish();
    std::vector<std::string> expected = {
        "dir ''",
        "symlink 'dangling' -> '/nonexistent/target'",
        "file 'empty' 0",
        "data 0",
        "dir 'emptydir'",
        "end dir",
        "symlink 'link' -> 'sub/file.txt'",
        "file 'name with spaces' 0",
        "data 0",
        "file 'run.sh' x 18",
        "data 18",
        "dir 'sub'",
        "dir 'sub/deeper'",
        "file 'sub/deeper/big.txt' 5000",
        "data 5000",
        "end dir",
        "file 'sub/file.txt' 5",
        "data 5",
        "end dir",
        "end dir",
    };
    EXPECT_EQ(visitor.events, expected);
    EXPECT_TRUE(parser.done());
    EXPECT_EQ(parser.nar_size(), data.size());
    // Fed in one piece, contents arrive as slices of the caller's buffer, not copies.
    for (const char* p : visitor.slice_starts)
        EXPECT_TRUE(p >= data.data() && p < data.data() + data.size());
}

// --- Broken input -------------------------------------------------------------------------------

TEST(NarCorpus, EveryBrokenNarIsRejectedWithItsReasonAndLeavesNothing) {
    std::ifstream cases(test::test_data_dir() / "nar" / "cases.txt");
    ASSERT_TRUE(cases);
    size_t count = 0;
    for (std::string line; std::getline(cases, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        std::string name = line.substr(0, tab), expected = line.substr(tab + 1);
        SCOPED_TRACE(name);
        std::string data = read_file(test::test_data_dir() / "nar" / name);
        TempDir tmp;
        fs::path out = tmp.path() / "out";

        std::string whole = format_error_of([&] { restore_nar(data, out); });
        EXPECT_NE(whole.find(expected), std::string::npos) << whole;
        EXPECT_FALSE(fs::exists(fs::symlink_status(out)));

        // The same reason at the same offset whatever the chunking, and whatever the visitor.
        EXPECT_EQ(format_error_of([&] { restore_in_chunks(data, out, 1); }), whole);
        EXPECT_FALSE(fs::exists(fs::symlink_status(out)));
        EXPECT_EQ(format_error_of([&] { validate_nar(data); }), whole);

        UniqueFd fd(::open((test::test_data_dir() / "nar" / name).c_str(), O_RDONLY | O_CLOEXEC));
        EXPECT_EQ(format_error_of([&] { restore_nar_from_fd(fd.get(), out); }), whole);
        EXPECT_FALSE(fs::exists(fs::symlink_status(out)));
        ++count;
    }
    EXPECT_GE(count, 16u);
}

TEST(NarParser, NestingBeyondTheLimitIsRejected) {
    EXPECT_EQ(validate_nar(nested_directories(kNarMaxDepth)).nar_size,
              nested_directories(kNarMaxDepth).size());
    std::string deep = nested_directories(kNarMaxDepth + 1);
    auto message = format_error_of([&] { validate_nar(deep); });
    EXPECT_NE(message.find("directories nested deeper than 1024 levels"), std::string::npos) << message;

    NullNarVisitor visitor;
    NarParser strict(visitor, NarLimits{.max_depth = 3});
    message = format_error_of([&] { strict.feed(nested_directories(4)); });
    EXPECT_NE(message.find("nested deeper than 3 levels at 'd/d/d'"), std::string::npos) << message;
}

TEST(NarParser, ConsumeStopsAtTheEndOfTheArchive) {
    std::string nar = nar_string(kNarMagic) + nar_regular("hello");
    std::string stream = nar + "NEXT MESSAGE";
    NullNarVisitor visitor;
    NarParser parser(visitor);
    size_t taken = 0;
    for (size_t i = 0; i < stream.size() && !parser.done(); i += 5)
        taken += parser.consume(stream.substr(i, 5));
    EXPECT_TRUE(parser.done());
    EXPECT_EQ(taken, nar.size());
    EXPECT_EQ(parser.nar_size(), nar.size());
    parser.finish();
}

TEST(NarParser, IsUnusableAfterAnError) {
    NullNarVisitor visitor;
    NarParser parser(visitor);
    EXPECT_THROW(parser.feed(nar_string("nix-archive-0")), FormatError);
    EXPECT_THROW(parser.feed("x"), std::logic_error);
    EXPECT_THROW(parser.finish(), std::logic_error);
}

TEST(NarParser, ChunkedInputIsHashedOnceByTheTee) {
    std::string data = read_file(nar_fixtures() / (std::string(kDirTree) + ".nar"));
    NullNarVisitor visitor;
    HashingNarParser parser(visitor, HashAlgo::sha256);
    for (size_t i = 0; i < data.size(); i += 13)
        parser.feed(std::string_view(data).substr(i, 13));
    auto result = parser.finish();
    EXPECT_EQ(result.hash, hash_string(HashAlgo::sha256, data));
    EXPECT_EQ(result.nar_size, data.size());
}

// --- Restoring ----------------------------------------------------------------------------------

TEST(NarRestore, RefusesAnExistingDestinationAndLeavesItAlone) {
    TempDir tmp;
    fs::path out = tmp.path() / "out";
    fs::create_directory(out);
    write_file_atomic(out / "keep", "precious");
    std::string data = read_file(nar_fixtures() / (std::string(kDirTree) + ".nar"));
    EXPECT_THROW(restore_nar(data, out), SysError);
    EXPECT_EQ(read_file(out / "keep"), "precious");
    // Same for a single-file archive over an existing file.
    EXPECT_THROW(restore_nar(nar_string(kNarMagic) + nar_regular("x"), out / "keep"), SysError);
    EXPECT_EQ(read_file(out / "keep"), "precious");
}

TEST(NarRestore, FromAnFdHashesInTheSamePassAndAnUncommittedRestorerCleansUp) {
    auto infos = load_path_infos();
    fs::path file = nar_fixtures() / "jsm9cyjvamk013ndqlj8ckgaqp3yrw28.nar";
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    TempDir tmp;
    auto result = restore_nar_from_fd(fd.get(), tmp.path() / "out");
    EXPECT_EQ(result.hash.to_string(HashFormat::sri), infos.at(file.stem().string()).nar_hash);
    EXPECT_EQ(dump_to_string(tmp.path() / "out"), read_file(file));

    {
        NarRestorer restorer(tmp.path() / "abandoned");
        NarParser parser(restorer);
        parser.feed(read_file(nar_fixtures() / (std::string(kDirTree) + ".nar")));
        parser.finish();
        EXPECT_TRUE(fs::exists(tmp.path() / "abandoned" / "sub" / "file.txt"));
    }
    EXPECT_FALSE(fs::exists(tmp.path() / "abandoned"));
}

// --- Dumping ------------------------------------------------------------------------------------

TEST(NarDump, SortsByRawBytesRecordsOnlyTheOwnerExecuteBitAndMatchesAHandBuiltNar) {
    TempDir tmp;
    fs::path root = tmp.path() / "tree";
    fs::create_directories(root / "d" / "e");
    for (auto name : {"b", "B", "a", "\xc3\xa9", "_", "a b", "aa"})
        write_file_atomic(root / name, name);
    write_file_atomic(root / "d" / "tool", "#!/bin/sh\n", 0700);
    write_file_atomic(root / "d" / "group-x", "g", 0654); // x for the group only: not executable
    fs::create_symlink("../a", root / "d" / "up");

    auto entry = [](std::string_view name, const std::string& node) {
        return nar_tokens({"entry", "(", "name", name, "node"}) + node + nar_string(")");
    };
    std::string d =
        nar_tokens({"(", "type", "directory"}) + entry("e", nar_tokens({"(", "type", "directory", ")"})) +
        entry("group-x", nar_regular("g")) + entry("tool", nar_regular("#!/bin/sh\n", true)) +
        entry("up", nar_tokens({"(", "type", "symlink", "target", "../a", ")"})) + nar_string(")");
    std::string expected = nar_string(kNarMagic) + nar_tokens({"(", "type", "directory"}) +
                           entry("B", nar_regular("B")) + entry("_", nar_regular("_")) +
                           entry("a", nar_regular("a")) + entry("a b", nar_regular("a b")) +
                           entry("aa", nar_regular("aa")) + entry("b", nar_regular("b")) + entry("d", d) +
                           entry("\xc3\xa9", nar_regular("\xc3\xa9")) + nar_string(")");
    EXPECT_EQ(dump_to_string(root), expected);
}

TEST(NarDump, AgreesWithNixStoreDump) {
    if (::access("/usr/bin/nix-store", X_OK) != 0) GTEST_SKIP() << "nix-store is not installed";
    TempDir tmp;
    fs::path root = tmp.path() / "tree";
    fs::create_directories(root / "x" / "y");
    std::mt19937 rng(42);
    for (int i = 0; i < 40; ++i) {
        std::string contents(rng() % 3000, '\0');
        for (auto& c : contents)
            c = char(rng());
        auto dir = i % 3 == 0 ? root : i % 3 == 1 ? root / "x" : root / "x" / "y";
        write_file_atomic(dir / ("f" + std::to_string(rng() % 1000) + "-" + std::to_string(i)), contents,
                          i % 5 == 0 ? 0755 : 0644);
    }
    fs::create_symlink("nowhere", root / "x" / "dangling");
    fs::path nix_nar = tmp.path() / "nix.nar";
    ASSERT_EQ(std::system(
                  ("/usr/bin/nix-store --dump '" + root.string() + "' > '" + nix_nar.string() + "'").c_str()),
              0);
    EXPECT_EQ(dump_to_string(root), read_file(nix_nar));
}

TEST(NarDump, LargeFilesCrossChunkBoundariesIntact) {
    TempDir tmp;
    fs::path root = tmp.path() / "tree";
    fs::create_directory(root);
    std::mt19937_64 rng(7);
    for (size_t size : {kNarDumpChunkSize - 3, kNarDumpChunkSize, size_t(6 * 1024 * 1024 + 5)}) {
        std::string contents(size, '\0');
        for (auto& c : contents)
            c = char(rng());
        write_file_atomic(root / ("f" + std::to_string(size)), contents);
    }
    std::vector<size_t> chunk_sizes;
    std::string nar;
    dump_path(root, [&](std::string_view chunk) {
        chunk_sizes.push_back(chunk.size());
        nar += chunk;
    });
    for (size_t i = 0; i + 1 < chunk_sizes.size(); ++i)
        EXPECT_EQ(chunk_sizes[i], kNarDumpChunkSize);
    TempDir out;
    NarRestorer restorer(out.path() / "copy");
    NarParser parser(restorer);
    feed_in_chunks(parser, nar, 100000);
    restorer.commit();
    EXPECT_EQ(dump_to_string(out.path() / "copy"), nar);
    // Big enough for hash_path() to hash on its second thread: still the hash of the bytes dumped.
    auto hashed = hash_path(HashAlgo::sha256, root);
    EXPECT_EQ(hashed.hash, hash_string(HashAlgo::sha256, nar));
    EXPECT_EQ(hashed.nar_size, nar.size());
}

TEST(NarDump, RootSymlinkAndRootFileAreDumpedThemselves) {
    TempDir tmp;
    write_file_atomic(tmp.path() / "file", "abc", 0755);
    fs::create_symlink("file", tmp.path() / "link");
    EXPECT_EQ(dump_to_string(tmp.path() / "file"), nar_string(kNarMagic) + nar_regular("abc", true));
    EXPECT_EQ(dump_to_string(tmp.path() / "link"),
              nar_string(kNarMagic) + nar_tokens({"(", "type", "symlink", "target", "file", ")"}));
}

TEST(NarDump, AFifoIsRejectedWithItsPath) {
    TempDir tmp;
    fs::create_directories(tmp.path() / "tree" / "sub");
    write_file_atomic(tmp.path() / "tree" / "a", "a");
    ASSERT_EQ(::mkfifo((tmp.path() / "tree" / "sub" / "pipe").c_str(), 0644), 0);
    try {
        hash_path(HashAlgo::sha256, tmp.path() / "tree");
        FAIL() << "dumping a FIFO succeeded";
    } catch (const Error& e) {
        std::string expected = "cannot dump '" + (tmp.path() / "tree" / "sub" / "pipe").string() +
                               "': unsupported file type (FIFO)";
        EXPECT_EQ(std::string(e.what()), expected);
    }
    EXPECT_THROW(dump_to_string(tmp.path() / "tree" / "sub" / "pipe"), Error);

    // Also when the error comes while hash_path() hashes on its second thread.
    write_file_atomic(tmp.path() / "tree" / "0-big", std::string(9 * 1024 * 1024, 'x'));
    EXPECT_THROW(hash_path(HashAlgo::sha256, tmp.path() / "tree"), Error);
}

TEST(NarDump, ToAnFdAndCopyNarCheckWhatPasses) {
    fs::path file = nar_fixtures() / (std::string(kDirTree) + ".nar");
    TempDir tmp;
    restore_nar(read_file(file), tmp.path() / "tree");
    {
        UniqueFd out(
            ::open((tmp.path() / "dump.nar").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        EXPECT_EQ(dump_path_to_fd(tmp.path() / "tree", out.get()), fs::file_size(file));
    }
    EXPECT_EQ(read_file(tmp.path() / "dump.nar"), read_file(file));

    UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    std::string copied;
    auto result = copy_nar(in.get(), [&](std::string_view chunk) { copied += chunk; });
    EXPECT_EQ(copied, read_file(file));
    EXPECT_EQ(result.hash, hash_string(HashAlgo::sha256, copied));

    UniqueFd broken(
        ::open((test::test_data_dir() / "nar" / "truncated-contents.nar").c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(copy_nar(broken.get(), [](std::string_view) {}), FormatError);
}
