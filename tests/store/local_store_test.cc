#include "ferry/store/local_store.hh"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ferry/store/sqlite.hh"
#include "ferry/store/store_db.hh"
#include "ferry/util/error.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

struct LocalStoreTest : ::testing::Test {
    TempStore s;
    LocalStore& store = *s.store;

    StorePath fake(std::string_view name) { return store.store_dir().make_text_path(name, name, {}); }

    /// Writes some files for `path` and returns an info that can be registered.
    ValidPathInfo with_files(const StorePath& path, StorePathSet refs = {}) {
        write_file_atomic(store.real_path(path), std::string(path.name()));
        ValidPathInfo info(path, hash_string(HashAlgo::sha256, path.name()), 100 + path.name().size());
        info.references = std::move(refs);
        return info;
    }
};

} // namespace

TEST_F(LocalStoreTest, LayoutUnderTheRoot) {
    auto root = s.dir.path() / "root";
    EXPECT_EQ(store.real_path(fake("a")), root / "nix/store" / fake("a").to_string());
    EXPECT_TRUE(fs::is_regular_file(root / "nix/var/ferry/db/db.sqlite"));
    EXPECT_TRUE(fs::is_directory(root / "nix/var/ferry/locks"));
    EXPECT_TRUE(fs::is_directory(root / "nix/store/.ferry-tmp"));
}

TEST_F(LocalStoreTest, RegisterAndQueryRoundTrip) {
    auto a = fake("a"), b = fake("b");
    auto info_b = with_files(b);
    auto info_a = with_files(a, {a, b});
    info_a.deriver = fake("a.drv");
    info_a.signatures = {"k1:c2ln", "k2:c2lnMg=="};
    info_a.ca = "text:sha256:15bdzvbf38j02ikrgnb50zf7alkdzkzp1igpjb6jll55aw103ajz";
    info_a.ultimate = true;
    info_a.registration_time = 1234;
    EXPECT_FALSE(store.is_valid_path(a));
    store.register_valid_paths({info_b, info_a});

    auto got = store.query_path_info(a);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, info_a);
    auto got_b = store.require_path_info(b);
    EXPECT_GT(got_b.registration_time, 1600000000) << "0 means now";
    EXPECT_FALSE(got_b.ultimate);
    EXPECT_FALSE(got_b.deriver);

    // A second connection (as another process) sees the same.
    auto other = s.open_again();
    EXPECT_EQ(other->require_path_info(a), info_a);
    EXPECT_FALSE(store.query_path_info(fake("c")));
    try {
        store.require_path_info(fake("c"));
        FAIL();
    } catch (const InvalidPath& e) {
        EXPECT_EQ(std::string(e.what()), "path '" + store.print(fake("c")) + "' is not valid");
    }
}

TEST_F(LocalStoreTest, MissingReferenceRegistersNothing) {
    auto a = fake("a"), b = fake("b"), missing = fake("missing");
    auto info_a = with_files(a);
    auto info_b = with_files(b, {a, missing});
    try {
        store.register_valid_paths({info_a, info_b});
        FAIL();
    } catch (const InvalidPath& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(store.print(b)), std::string::npos) << what;
        EXPECT_NE(what.find(store.print(missing)), std::string::npos) << what;
    }
    EXPECT_TRUE(store.query_valid_paths({a, b}).empty());
}

TEST_F(LocalStoreTest, MissingFilesAreRefused) {
    auto a = fake("a");
    ValidPathInfo info(a, hash_string(HashAlgo::sha256, ""), 1);
    EXPECT_THROW(store.register_valid_paths({info}), SysError);
    EXPECT_FALSE(store.is_valid_path(a));
}

TEST_F(LocalStoreTest, ClosureTopologicalOrderAndReferrers) {
    // top → left, right; left → bottom; right → bottom, right; bottom → bottom
    auto top = fake("top"), left = fake("left"), right = fake("right"), bottom = fake("bottom"),
         other = fake("x");
    store.register_valid_paths({with_files(top, {left, right}), with_files(left, {bottom}),
                                with_files(right, {bottom, right}), with_files(bottom, {bottom}),
                                with_files(other)});
    EXPECT_EQ(store.compute_closure({top}), (StorePathSet{top, left, right, bottom}));
    EXPECT_EQ(store.compute_closure({left, other}), (StorePathSet{left, bottom, other}));
    EXPECT_THROW(store.compute_closure({fake("nope")}), InvalidPath);

    auto order = store.topo_sort({top, left, right, bottom, other});
    ASSERT_EQ(order.size(), 5u);
    auto pos = [&](const StorePath& p) { return std::find(order.begin(), order.end(), p) - order.begin(); };
    EXPECT_LT(pos(bottom), pos(left));
    EXPECT_LT(pos(bottom), pos(right));
    EXPECT_LT(pos(left), pos(top));
    EXPECT_LT(pos(right), pos(top));
    // Only references inside the set order it.
    EXPECT_EQ(store.topo_sort({left, bottom}), (std::vector<StorePath>{bottom, left}));
    EXPECT_EQ(store.topo_sort({top, right}), (std::vector<StorePath>{right, top}));

    EXPECT_EQ(store.query_referrers(bottom), (StorePathSet{left, right, bottom}));
    EXPECT_EQ(store.query_referrers(top), StorePathSet{});
    EXPECT_THROW(store.query_referrers(fake("nope")), InvalidPath);
}

TEST_F(LocalStoreTest, TopoSortReportsCycles) {
    auto a = fake("a"), b = fake("b");
    store.register_valid_paths({with_files(a, {b}), with_files(b, {a})});
    try {
        store.topo_sort({a, b});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
    }
}

TEST_F(LocalStoreTest, HashPartAndBatchedValidity) {
    auto a = fake("a"), b = fake("b");
    store.register_valid_paths({with_files(a)});
    EXPECT_EQ(store.query_path_from_hash_part(a.hash_part()), a);
    EXPECT_FALSE(store.query_path_from_hash_part(b.hash_part()));
    EXPECT_EQ(store.query_valid_paths({a, b}), StorePathSet{a});
}

TEST_F(LocalStoreTest, DerivationOutputsAndSignatures) {
    auto drv = fake("x.drv"), out = fake("x"), dev = fake("x-dev");
    store.register_valid_paths({with_files(drv)});
    EXPECT_THROW(store.register_derivation_outputs(fake("y.drv"), {{"out", out}}), InvalidPath);
    store.register_derivation_outputs(drv, {{"out", out}, {"dev", dev}});
    EXPECT_EQ(store.query_derivation_outputs(drv),
              (std::map<std::string, StorePath>{{"out", out}, {"dev", dev}}));

    store.add_signatures(drv, {"b:Mg==", "a:MQ=="});
    store.add_signatures(drv, {"a:MQ==", "c:Mw=="});
    EXPECT_EQ(store.require_path_info(drv).signatures, (std::set<std::string>{"a:MQ==", "b:Mg==", "c:Mw=="}));
    EXPECT_THROW(store.add_signatures(out, {"a:MQ=="}), InvalidPath);
}

TEST_F(LocalStoreTest, SchemaVersionIsRecordedAndNewerOnesRefused) {
    {
        StoreDb db(s.config.db_file(), StoreDir(), false);
        EXPECT_EQ(db.schema_version(), kStoreSchemaVersion);
        db.db().exec("update SchemaVersion set version = 99");
    }
    try {
        s.open_again();
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
    }
}

TEST(LocalStoreDurable, SyncsBeforeRegistering) {
    TempDir dir;
    StoreConfig config{.store_dir = "/nix/store", .root = dir.path() / "root", .durable = true};
    LocalStore store(config);
    auto path = store.add_text("durable.txt", "kept\n", {});
    EXPECT_TRUE(store.is_valid_path(path));
    EXPECT_EQ(read_file(store.real_path(path)), "kept\n");
}
