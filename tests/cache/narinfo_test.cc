#include "ferry/cache/narinfo.hh"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/cache/signature.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

TrustedKeys fixture_keys() {
    return TrustedKeys(read_file(test::compat_dir() / "keys" / "cache.pub"));
}

std::map<std::string, nlohmann::json> path_infos() {
    std::map<std::string, nlohmann::json> out;
    for (const auto& j : nlohmann::json::parse(read_file(test::compat_dir() / "path-info.json")))
        out[j.at("path").get<std::string>()] = j;
    return out;
}

const char* kHello = "StorePath: /nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text\n"
                     "URL: nar/x.nar\nCompression: none\n"
                     "NarHash: sha256:1j9szxyi4c0aj8i14lyk0b51c6mqacxdwhrsdmmnx3azgjr5ks6a\nNarSize: 120\n"
                     "References: \n";

} // namespace

TEST(NarInfo, FixtureCachesParsePrintAndVerify) {
    StoreDir dir;
    auto keys = fixture_keys();
    auto infos = path_infos();
    size_t n = 0;
    for (const char* cache : {"cache-none", "cache-xz", "cache-zstd"}) {
        for (const auto& e : fs::directory_iterator(test::compat_dir() / cache)) {
            if (e.path().extension() != ".narinfo") continue;
            auto text = read_file(e.path());
            auto info = NarInfo::parse(dir, text, e.path().string());
            EXPECT_EQ(info.to_string(dir), text) << e.path();
            EXPECT_EQ(info.path.hash_part(), e.path().stem().string());
            EXPECT_TRUE(info.verify(dir, keys)) << e.path();
            const auto& expected = infos.at(dir.print(info.path));
            EXPECT_EQ(info.nar_hash, Hash::parse(expected.at("narHash").get<std::string>()));
            EXPECT_EQ(info.nar_size, expected.at("narSize").get<uint64_t>());
            StorePathSet refs;
            for (const auto& r : expected.at("references"))
                refs.insert(dir.parse(r.get<std::string>()));
            EXPECT_EQ(info.references, refs);
            ++n;
        }
    }
    EXPECT_EQ(n, 45u);
}

TEST(NarInfo, TamperedInfoDoesNotVerify) {
    StoreDir dir;
    auto keys = fixture_keys();
    auto text = read_file(test::compat_dir() / "cache-xz" / "02lnnwkxgx07mlmhalkbd3mk1vhn3w57.narinfo");
    auto info = NarInfo::parse(dir, text, "x");
    ASSERT_TRUE(info.verify(dir, keys));
    auto changed = info;
    changed.nar_size += 1;
    EXPECT_FALSE(changed.verify(dir, keys));
    changed = info;
    changed.references.clear();
    EXPECT_FALSE(changed.verify(dir, keys));
    // Signed by another key of the same name.
    auto other = SecretKey::generate("fixture-cache-1");
    changed = info;
    changed.signatures = {other.sign(info.fingerprint(dir))};
    EXPECT_FALSE(changed.verify(dir, keys));
    TrustedKeys other_keys;
    other_keys.add(other.public_key());
    EXPECT_TRUE(changed.verify(dir, other_keys));
    changed.signatures.clear();
    EXPECT_FALSE(changed.verify(dir, keys));
}

TEST(NarInfo, SignRoundTrip) {
    StoreDir dir;
    auto sk = SecretKey::generate("test-1");
    auto again = SecretKey::parse(sk.to_string());
    EXPECT_EQ(again.key, sk.key);
    auto pk = PublicKey::parse(sk.public_key().to_string());
    EXPECT_TRUE(pk.verify("hello", sk.sign("hello")));
    EXPECT_FALSE(pk.verify("hellO", sk.sign("hello")));
    EXPECT_FALSE(pk.verify("hello", "test-1:garbage"));
    EXPECT_THROW(PublicKey::parse("nokey"), FormatError);
    EXPECT_THROW(PublicKey::parse("k:AAAA"), FormatError);
}

TEST(NarInfo, MalformedInfoGivesClearErrors) {
    StoreDir dir;
    auto expect_error = [&](std::string text, const std::string& substring) {
        try {
            NarInfo::parse(dir, text, "http://cache/x.narinfo");
            ADD_FAILURE() << "no error for: " << text;
        } catch (const FormatError& e) {
            std::string what = e.what();
            EXPECT_NE(what.find(substring), std::string::npos) << what;
            EXPECT_NE(what.find("http://cache/x.narinfo"), std::string::npos) << what;
        }
    };
    std::string good = kHello;
    EXPECT_NO_THROW(NarInfo::parse(dir, good, "x"));
    expect_error("", "missing field 'StorePath'");
    expect_error(good.substr(good.find("URL")), "missing field 'StorePath'");
    expect_error("StorePath: /nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text\nNarHash: "
                 "sha256:1j9szxyi4c0aj8i14lyk0b51c6mqacxdwhrsdmmnx3azgjr5ks6a\nNarSize: 1\n",
                 "missing field 'URL'");
    expect_error("StorePath: /tmp/x\n", "not in the Nix store");
    expect_error(good + "FileSize: 12x\n", "field 'FileSize' is not a number");
    expect_error(good + "garbage line\n", "line 7 is not 'Key: value'");
    auto bad_hash = good;
    bad_hash.replace(bad_hash.find("sha256:1j9"), 10, "sha256:1j!");
    expect_error(bad_hash, "field 'NarHash'");
    expect_error(good + "References: not-a-path\n", "field 'References'");
}

TEST(CacheInfo, ParsesFields) {
    auto info = CacheInfo::parse("StoreDir: /gnu/store\nWantMassQuery: 1\nPriority: 30\n", "x");
    EXPECT_EQ(info.store_dir, "/gnu/store");
    EXPECT_TRUE(info.want_mass_query);
    EXPECT_EQ(info.priority, 30);
    EXPECT_EQ(CacheInfo::parse(info.to_string(), "x").priority, 30);
    EXPECT_THROW(CacheInfo::parse("Priority: high\n", "x"), FormatError);
}

TEST(CacheInfo, APriorityBeyondAnIntIsAnError) {
    // Found by the cache_info fuzzer: 1475784102541512926 was cast to a negative int, which printed as a
    // Priority that no longer parsed.
    try {
        CacheInfo::parse("Priority: 2147483648\n", "http://cache/nix-cache-info");
        ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("field 'Priority' is out of range: '2147483648'"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(CacheInfo::parse("Priority: 2147483647\n", "x").priority, 2147483647);
}

TEST(FuzzRegressions, CacheInfoInputsGiveAnErrorOrRoundTrip) {
    auto inputs = test::fuzz_regressions("cache_info");
    ASSERT_FALSE(inputs.empty());
    for (const auto& input : inputs) {
        SCOPED_TRACE(input.filename().string());
        try {
            CacheInfo info = CacheInfo::parse(read_file(input), input.string());
            CacheInfo again = CacheInfo::parse(info.to_string(), "printed");
            EXPECT_EQ(again.priority, info.priority);
            EXPECT_EQ(again.store_dir, info.store_dir);
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find("malformed nix-cache-info"), std::string::npos) << e.what();
        }
    }
}
