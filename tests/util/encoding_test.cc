#include "ferry/util/encoding.hh"

#include <gtest/gtest.h>

#include "ferry/util/error.hh"

using namespace ferry;

TEST(Encoding, Base16RoundTrip) {
    std::vector<uint8_t> bytes{0x00, 0x01, 0xab, 0xff};
    EXPECT_EQ(base16_encode(bytes), "0001abff");
    EXPECT_EQ(base16_decode("0001ABff"), bytes);
    EXPECT_THROW(base16_decode("abc"), FormatError);
    EXPECT_THROW(base16_decode("zz"), FormatError);
}

TEST(Encoding, Nix32KnownValues) {
    // The sha256 of the empty string, as `nix-hash --type sha256 --to-base32` prints it.
    auto bytes = base16_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(nix32_encode(bytes), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    EXPECT_EQ(nix32_decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 32), bytes);
    EXPECT_EQ(nix32_length(20), 32u);
    EXPECT_EQ(nix32_length(32), 52u);
}

TEST(Encoding, Nix32Rejects) {
    EXPECT_THROW(nix32_decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e", 32),
                 FormatError); // 'e'
    EXPECT_THROW(nix32_decode("0mdqa9w1", 32), FormatError);
    // The top digit of a 32-byte value may only use one bit: 'z' overflows.
    EXPECT_THROW(nix32_decode("zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 32), FormatError);
}

TEST(Encoding, Base64RoundTrip) {
    std::string s = "any carnal pleas";
    auto enc = base64_encode(as_bytes(s));
    EXPECT_EQ(enc, "YW55IGNhcm5hbCBwbGVhcw==");
    auto dec = base64_decode(enc);
    EXPECT_EQ(std::string(dec.begin(), dec.end()), s);
    EXPECT_THROW(base64_decode("YW55!"), FormatError);
}
