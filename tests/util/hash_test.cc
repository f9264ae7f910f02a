#include "ferry/util/hash.hh"

#include <gtest/gtest.h>

#include "ferry/util/error.hh"

using namespace ferry;

TEST(Hash, KnownDigests) {
    EXPECT_EQ(hash_string(HashAlgo::md5, "abc").to_base16(), "900150983cd24fb0d6963f7d28e17f72");
    EXPECT_EQ(hash_string(HashAlgo::sha1, "abc").to_base16(), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(hash_string(HashAlgo::sha256, "abc").to_base16(),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hash_string(HashAlgo::sha512, "abc").to_base16(),
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(Hash, ParseAllForms) {
    auto h = hash_string(HashAlgo::sha256, "abc");
    for (auto f : {HashFormat::base16, HashFormat::nix32, HashFormat::base64, HashFormat::sri}) {
        auto text = h.to_string(f, true);
        EXPECT_EQ(Hash::parse(text), h) << text;
    }
    EXPECT_EQ(Hash::parse(h.to_string(HashFormat::nix32, false), HashAlgo::sha256), h);
    EXPECT_EQ(h.to_string(HashFormat::sri), "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

TEST(Hash, ParseRejects) {
    EXPECT_THROW(Hash::parse("sha256:abc"), FormatError);
    EXPECT_THROW(Hash::parse("sha257:0000"), FormatError);
    EXPECT_THROW(Hash::parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                 FormatError);
    EXPECT_THROW(Hash::parse("sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                 FormatError);
    EXPECT_THROW(Hash::parse("md5:" + hash_string(HashAlgo::md5, "").to_base16(), HashAlgo::sha1),
                 FormatError);
}

TEST(Hash, StreamingEqualsOneShot) {
    HashSink sink(HashAlgo::sha256);
    sink.update("a");
    sink.update("bc");
    EXPECT_EQ(sink.bytes(), 3u);
    EXPECT_EQ(sink.finish(), hash_string(HashAlgo::sha256, "abc"));
}

TEST(Hash, CompressFoldsXor) {
    Hash h(HashAlgo::sha256);
    h.bytes[0] = 0x01;
    h.bytes[20] = 0x03;
    auto c = compress_hash(h, 20);
    ASSERT_EQ(c.size(), 20u);
    EXPECT_EQ(c[0], 0x02);
}

#include <fstream>

#include "support/fixtures.hh"

// tests/data/hash/cases.txt: broken hash strings and the error each must give.
TEST(Hash, BrokenCorpusGivesClearErrors) {
    std::ifstream cases(test::test_data_dir() / "hash" / "cases.txt");
    std::string line;
    size_t n = 0;
    while (std::getline(cases, line)) {
        if (line.empty() || line[0] == '#') continue;
        auto tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        auto text = line.substr(0, tab), expected = line.substr(tab + 1);
        try {
            Hash::parse(text);
            ADD_FAILURE() << text << ": parsed without error";
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << text << ": " << e.what();
        }
        ++n;
    }
    EXPECT_GE(n, 12u);
}
