#include "ferry/store/store_path.hh"

#include <gtest/gtest.h>

#include "ferry/util/error.hh"

using namespace ferry;

TEST(StorePath, ParsesAndPrints) {
    StoreDir dir;
    auto p = dir.parse("/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");
    EXPECT_EQ(p.hash_part(), "jsm9cyjvamk013ndqlj8ckgaqp3yrw28");
    EXPECT_EQ(p.name(), "busybox-static");
    EXPECT_EQ(dir.print(p), "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");
    EXPECT_EQ(dir.to_store_path("/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static/bin/sh"), p);
}

TEST(StorePath, RejectsBadPaths) {
    StoreDir dir;
    for (const char* bad : {
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28",          // no name
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-",         // empty name
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrwe8-x",        // 'e' is not nix32
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw2-x",         // short hash
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-a b",      // space
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-a/b",      // inside a path
             "/gnu/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-x",        // other store
             "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-\xc3\xa9", // non-ASCII
         })
        EXPECT_THROW(dir.parse(bad), FormatError) << bad;
    EXPECT_THROW(StorePath("jsm9cyjvamk013ndqlj8ckgaqp3yrw28-" + std::string(212, 'a')), FormatError);
    EXPECT_NO_THROW(StorePath("jsm9cyjvamk013ndqlj8ckgaqp3yrw28-" + std::string(211, 'a')));
    EXPECT_NO_THROW(StorePath("jsm9cyjvamk013ndqlj8ckgaqp3yrw28-+-._?=aZ09"));
}

TEST(StorePath, FixedOutputPaths) {
    StoreDir dir;
    // builtins.path of the busybox tree: recursive sha256 of its NAR (nix-hash --type sha256 --base32).
    auto nar = Hash::parse("sha256:0m54h46i7lwk20d2vihhq0fq7ns5ypg44viy8bxxnfqpz3y9a10x");
    EXPECT_EQ(dir.print(dir.make_fixed_output_path(FileIngestionMethod::recursive, nar, "busybox-static")),
              "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");
    // fixed-flat.txt from compat.nix.
    auto flat = hash_string(HashAlgo::sha256, "fixed content\n");
    EXPECT_EQ(dir.print(dir.make_fixed_output_path(FileIngestionMethod::flat, flat, "fixed-flat.txt")),
              "/nix/store/j50dpv4dm8hhhp1acbzyg52c6hm45l3w-fixed-flat.txt");
    // fixed-recursive from compat.nix.
    auto rec = Hash::parse("sha256:1f1layi40aar7sfj6mbwpp9r02pp8i0zzcv9nxb15zhkdag66bv4");
    EXPECT_EQ(dir.print(dir.make_fixed_output_path(FileIngestionMethod::recursive, rec, "fixed-recursive")),
              "/nix/store/8p45b1j3vhz1yq5f2cynrqhdzzknziwm-fixed-recursive");
    EXPECT_THROW(dir.make_fixed_output_path(FileIngestionMethod::flat, flat, "x",
                                            {StorePath("jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static")}),
                 FormatError);
}

TEST(StorePath, TextPaths) {
    StoreDir dir;
    // builtins.toFile "plain.txt" from compat.nix.
    EXPECT_EQ(dir.print(dir.make_text_path("plain.txt", "a text file made by toFile\n", {})),
              "/nix/store/avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt");
}
