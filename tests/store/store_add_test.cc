// Adding, importing and dumping contents through LocalStore, checked against Nix 2.8's own results.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ferry/store/content_address.hh"
#include "ferry/store/local_store.hh"
#include "ferry/store/nar.hh"
#include "ferry/util/error.hh"
#include "support/fixtures.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

ByteSource from_string(const std::string& data) {
    auto pos = std::make_shared<size_t>(0);
    return [&data, pos](std::span<char> buf) {
        size_t n = std::min(buf.size(), data.size() - *pos);
        std::copy_n(data.data() + *pos, n, buf.data());
        *pos += n;
        return n;
    };
}

nlohmann::json fixture(std::string_view name) {
    for (const auto& e : compat_path_infos())
        if (e["path"].get<std::string>().ends_with(name)) return e;
    throw std::runtime_error("no fixture " + std::string(name));
}

struct StoreAddTest : ::testing::Test {
    TempStore s;
    LocalStore& store = *s.store;

    /// Expects the store to hold nothing at all: no valid path, no file, no staging leftovers.
    void expect_untouched(const StorePath& path) {
        EXPECT_FALSE(store.is_valid_path(path));
        EXPECT_EQ(s.store_entries(), std::vector<std::string>{});
        EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
    }
};

} // namespace

TEST_F(StoreAddTest, BusyboxTreeGetsNixsPathAndHash) {
    TempDir src;
    auto bb = make_busybox_tree(src.path());
    auto path = store.add_to_store(bb, FileIngestionMethod::recursive, "busybox-static");
    EXPECT_EQ(store.print(path), "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");
    auto expected = fixture("-busybox-static");
    auto info = store.require_path_info(path);
    EXPECT_EQ(info.nar_hash.to_string(HashFormat::sri), expected["narHash"]);
    EXPECT_EQ(info.nar_size, expected["narSize"]);
    EXPECT_EQ(info.ca, expected["ca"]);
    EXPECT_TRUE(info.references.empty());
    EXPECT_EQ(hash_path(HashAlgo::sha256, store.real_path(path)).hash, info.nar_hash);
    // Adding again changes nothing.
    EXPECT_EQ(store.add_to_store(bb, FileIngestionMethod::recursive, "busybox-static"), path);
    EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
}

TEST_F(StoreAddTest, AddedTreesAreCanonical) {
    TempDir src;
    fs::create_directories(src.path() / "t" / "d");
    write_file_atomic(src.path() / "t" / "d" / "f", "x", 0664);
    write_file_atomic(src.path() / "t" / "run", "#!/bin/sh\n", 04755);
    fs::create_symlink("d/f", src.path() / "t" / "link");
    auto path = store.add_to_store(src.path() / "t", FileIngestionMethod::recursive, "t");
    auto real = store.real_path(path);
    struct stat st;
    for (auto [rel, mode] : std::vector<std::pair<std::string, unsigned>>{
             {"", 0555}, {"d", 0555}, {"d/f", 0444}, {"run", 0555}}) {
        fs::path p = rel.empty() ? real : real / rel;
        ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
        EXPECT_EQ(st.st_mode & 07777, mode) << p;
        EXPECT_EQ(st.st_mtim.tv_sec, 1) << p;
    }
    ASSERT_EQ(::lstat((real / "link").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1);
}

TEST_F(StoreAddTest, FlatFileGetsNixsFixedOutputPath) {
    TempDir src;
    write_file_atomic(src.path() / "f", "fixed content\n", 0755);
    auto path = store.add_to_store(src.path() / "f", FileIngestionMethod::flat, "fixed-flat.txt");
    auto expected = fixture("-fixed-flat.txt");
    EXPECT_EQ(store.print(path), expected["path"]);
    auto info = store.require_path_info(path);
    EXPECT_EQ(info.nar_hash.to_string(HashFormat::sri), expected["narHash"]);
    EXPECT_EQ(info.ca, expected["ca"]);
    EXPECT_THROW(store.add_to_store(src.path(), FileIngestionMethod::flat, "dir"), Error);
    EXPECT_THROW(store.add_to_store(src.path() / "f", FileIngestionMethod::flat, "bad name"), FormatError);
    EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
}

TEST_F(StoreAddTest, TextFileMatchesBuiltinsToFile) {
    auto path = store.add_text("plain.txt", "a text file made by toFile\n", {});
    auto expected = fixture("-plain.txt");
    EXPECT_EQ(store.print(path), expected["path"]);
    auto info = store.require_path_info(path);
    EXPECT_EQ(info.nar_hash.to_string(HashFormat::sri), expected["narHash"]);
    EXPECT_EQ(info.nar_size, expected["narSize"]);
    EXPECT_EQ(info.ca, expected["ca"]);
    EXPECT_EQ(read_file(store.real_path(path)), "a text file made by toFile\n");

    auto refs = store.add_text("refs.txt", "refers to " + store.print(path) + "\n", {path});
    EXPECT_EQ(store.require_path_info(refs).references, StorePathSet{path});
    EXPECT_THROW(store.add_text("r2.txt", "x", {store.store_dir().make_text_path("n", "n", {})}),
                 InvalidPath);
}

TEST_F(StoreAddTest, ImportsEveryCompatNarWithItsMetadata) {
    for (const auto& e : in_reference_order(compat_path_infos())) {
        ValidPathInfo expected = to_path_info(store.store_dir(), e);
        std::string nar = read_file(compat_nar(e));
        store.import_nar(from_string(nar), expected);
        auto got = store.require_path_info(expected.path);
        EXPECT_EQ(got.nar_hash, expected.nar_hash) << e["path"];
        EXPECT_EQ(got.nar_size, expected.nar_size) << e["path"];
        EXPECT_EQ(got.references, expected.references) << e["path"];
        EXPECT_EQ(got.deriver, expected.deriver) << e["path"];
        EXPECT_EQ(got.signatures, expected.signatures) << e["path"];
        std::string dumped;
        store.dump(expected.path, [&](std::string_view chunk) { dumped += chunk; });
        EXPECT_TRUE(dumped == nar) << "dump differs for " << e["path"];
    }
    EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
}

TEST_F(StoreAddTest, WrongHashIsAMismatchAndLeavesTheStoreUnchanged) {
    auto e = fixture("-dir-tree");
    ValidPathInfo expected = to_path_info(store.store_dir(), e);
    expected.nar_hash = hash_string(HashAlgo::sha256, "something else");
    std::string nar = read_file(compat_nar(e));
    try {
        store.import_nar(from_string(nar), expected);
        FAIL();
    } catch (const HashMismatch& e) {
        std::string what = e.what();
        EXPECT_EQ(what.find('\n'), std::string::npos);
        EXPECT_NE(what.find(store.print(expected.path)), std::string::npos) << what;
        EXPECT_NE(what.find(expected.nar_hash.to_string(HashFormat::sri)), std::string::npos) << what;
        EXPECT_NE(what.find("sha256-gmutKItF3b+t/6n+whjjDO+qlpQTS3iVlZeuc0+ZzPU="), std::string::npos)
            << what;
    }
    expect_untouched(expected.path);
    // A wrong expected size is refused the same way.
    expected = to_path_info(store.store_dir(), e);
    expected.nar_size += 1;
    EXPECT_THROW(store.import_nar(from_string(nar), expected), HashMismatch);
    expect_untouched(expected.path);
}

TEST_F(StoreAddTest, TruncatedNarLeavesTheStoreUnchanged) {
    auto e = fixture("-dir-tree");
    ValidPathInfo expected = to_path_info(store.store_dir(), e);
    std::string nar = read_file(compat_nar(e));
    for (size_t cut : {size_t(0), size_t(40), nar.size() / 2, nar.size() - 8}) {
        std::string part = nar.substr(0, cut);
        EXPECT_THROW(store.import_nar(from_string(part), expected), FormatError) << cut;
        expect_untouched(expected.path);
    }
}

TEST_F(StoreAddTest, ImportNeedsItsReferences) {
    auto e = fixture("-dep-chain");
    ValidPathInfo expected = to_path_info(store.store_dir(), e);
    std::string nar = read_file(compat_nar(e));
    EXPECT_THROW(store.import_nar(from_string(nar), expected), InvalidPath);
    expect_untouched(expected.path);
}

TEST_F(StoreAddTest, StaleFilesOfAnInvalidPathAreReplaced) {
    auto e = fixture("-hello-text");
    ValidPathInfo expected = to_path_info(store.store_dir(), e);
    // What a crash between the rename and the registration leaves behind.
    fs::create_directories(store.real_path(expected.path) / "junk");
    store.import_nar(from_string(read_file(compat_nar(e))), expected);
    EXPECT_EQ(read_file(store.real_path(expected.path)), "hello\n");
}

TEST_F(StoreAddTest, ImportOfAValidPathOnlyChecksTheStream) {
    auto e = fixture("-hello-text");
    ValidPathInfo expected = to_path_info(store.store_dir(), e);
    std::string nar = read_file(compat_nar(e));
    store.import_nar(from_string(nar), expected);
    auto before = store.require_path_info(expected.path);
    store.import_nar(from_string(nar), expected);
    EXPECT_EQ(store.require_path_info(expected.path), before);
    expected.nar_hash = hash_string(HashAlgo::sha256, "x");
    EXPECT_THROW(store.import_nar(from_string(nar), expected), HashMismatch);
    EXPECT_TRUE(store.is_valid_path(expected.path));
}

TEST_F(StoreAddTest, AbandonedStagingIsCleanedOnOpen) {
    fs::create_directories(s.config.staging_dir() / "1-2-3-crashed" / "out");
    auto live = store.stage("live");
    write_file_atomic(live.path(), "x");
    auto other = s.open_again();
    EXPECT_EQ(s.staging_leftovers().size(), 1u);
    EXPECT_TRUE(live.has_contents());
}

TEST_F(StoreAddTest, DumpOfAnInvalidPathFails) {
    EXPECT_THROW(store.dump(store.store_dir().make_text_path("n", "n", {}), [](std::string_view) {}),
                 InvalidPath);
}
