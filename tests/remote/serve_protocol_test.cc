// The serve protocol's codec: byte layouts, every command at every version gate, partial input, and
// malformed input giving clear errors.

#include "ferry/remote/serve_protocol.hh"

#include <gtest/gtest.h>

namespace ferry::serve {
namespace {

const StoreDir kDir;
const StorePath kA("g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-a");
const StorePath kB("00bgd045z0d4icpbc2yyz4gx48ak44la-b");
const StorePath kDrv("n1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-b.drv");

std::string hex(std::string_view s) {
    std::string out;
    for (unsigned char ch : s)
        out += fmt::format("{:02x}", ch);
    return out;
}

/// Every strict prefix of `bytes` is not enough; the whole is, taking all of it.
template <typename Decode> auto decode_all(std::string_view bytes, Decode decode) {
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode(bytes.substr(0, n))) << "prefix " << n;
    auto r = decode(bytes);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->used, bytes.size());
    return r->value;
}

Derivation sample_drv() {
    Derivation d;
    d.name = "b";
    d.outputs["out"] = {kDir.print(kB), "", ""};
    d.outputs["fixed"] = {kDir.print(kA), "r:sha256",
                          "0000000000000000000000000000000000000000000000000000000000000000"};
    d.input_srcs = {kA};
    d.platform = "x86_64-linux";
    d.builder = "/bin/sh";
    d.args = {"-c", "echo hi > $out", ""};
    d.env = {{"out", kDir.print(kB)}, {"empty", ""}, {"odd", "1234567"}};
    return d;
}

TEST(ServeProtocol, HandshakeBytesAreNixs) {
    EXPECT_EQ(hex(encode_client_hello()), "eb9d0c39000000000702000000000000");
    EXPECT_EQ(hex(encode_server_hello()), "cbee5254000000000702000000000000");
    EXPECT_EQ(decode_all(encode_server_hello(0x205), decode_server_hello), 0x205u);
    auto hello = encode_client_hello(0x203);
    EXPECT_EQ(decode_client_magic(hello), 8u);
    EXPECT_EQ(decode_all(std::string_view(hello).substr(8), decode_client_version), 0x203u);
}

TEST(ServeProtocol, WrongMagicAndOldVersionsAreClearErrors) {
    EXPECT_THROW(decode_client_magic(encode_server_hello()), ProtocolError);
    try {
        decode_server_hello(encode_client_hello());
        FAIL();
    } catch (const ProtocolError& e) {
        EXPECT_NE(std::string(e.what()).find("protocol mismatch"), std::string::npos) << e.what();
    }
    try {
        check_server_version(0x201);
        FAIL();
    } catch (const ProtocolError& e) {
        EXPECT_NE(std::string(e.what()).find("version 2.1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(check_server_version(0x307), ProtocolError);
    EXPECT_NO_THROW(check_server_version(0x202));
    EXPECT_NO_THROW(check_server_version(0x207));
    EXPECT_NO_THROW(check_server_version(0x2ff));
}

TEST(ServeProtocol, StringsArePaddedToEightBytes) {
    std::string out;
    WireWriter(out).str("abc").str("").str("12345678");
    EXPECT_EQ(hex(out), "0300000000000000616263000000000000000000000000000800000000000000"
                        "3132333435363738");
    std::string bad = out;
    bad[12] = 'x'; // padding of "abc"
    WireCursor c(bad);
    EXPECT_THROW(c.str("field"), ProtocolError);
}

TEST(ServeProtocol, BoundsAndStorePathsAreChecked) {
    std::string big;
    WireWriter(big).u64(uint64_t(1) << 40);
    EXPECT_THROW(WireCursor(big).str("name"), ProtocolError);
    EXPECT_THROW(WireCursor(big).strings("list"), ProtocolError);
    std::string notpath;
    WireWriter(notpath).u64(1).str("/tmp/evil");
    try {
        decode_path_set(kDir, notpath);
        FAIL();
    } catch (const ProtocolError& e) {
        EXPECT_NE(std::string(e.what()).find("'/tmp/evil' is not a store path"), std::string::npos);
    }
    std::string unknown = encode_u64(42);
    try {
        decode_request(kDir, kVersion, unknown);
        FAIL();
    } catch (const ProtocolError& e) {
        EXPECT_EQ(std::string(e.what()), "unknown serve command 42");
    }
}

void expect_same(const Request& a, const Request& b) {
    ASSERT_EQ(a.index(), b.index());
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            const auto& y = std::get<T>(b);
            if constexpr (std::is_same_v<T, QueryValidPaths>) {
                EXPECT_EQ(x.lock, y.lock);
                EXPECT_EQ(x.substitute, y.substitute);
                EXPECT_EQ(x.paths, y.paths);
            } else if constexpr (std::is_same_v<T, BuildDerivation>) {
                EXPECT_EQ(x.drv_path, y.drv_path);
                EXPECT_EQ(x.drv, y.drv);
                EXPECT_EQ(x.options, y.options);
            } else if constexpr (std::is_same_v<T, BuildPaths>) {
                EXPECT_EQ(x.paths, y.paths);
                EXPECT_EQ(x.options, y.options);
            } else if constexpr (std::is_same_v<T, AddToStoreNar>) {
                EXPECT_EQ(x.info, y.info);
            } else if constexpr (std::is_same_v<T, QueryClosure>) {
                EXPECT_EQ(x.include_outputs, y.include_outputs);
                EXPECT_EQ(x.paths, y.paths);
            } else if constexpr (std::is_same_v<T, DumpStorePath>) {
                EXPECT_EQ(x.path, y.path);
            } else if constexpr (!std::is_same_v<T, ImportPaths>) {
                EXPECT_EQ(x.paths, y.paths);
            }
        },
        a);
}

std::vector<Request> every_request() {
    BuildOptions o{7, 8, 9, 2, true, true};
    ValidPathInfo info(kB, hash_string(HashAlgo::sha256, "nar"), 1234);
    info.references = {kA, kB};
    info.deriver = kDrv;
    info.signatures = {"k:sig"};
    info.ca = "fixed:r:" + hash_string(HashAlgo::sha256, "contents").to_nix32_prefixed();
    info.registration_time = 99;
    return {QueryValidPaths{true, true, {kA, kB}},
            QueryPathInfos{{kA}},
            DumpStorePath{kB},
            ImportPaths{},
            ExportPaths{{kA}},
            BuildPaths{{kDir.print(kDrv) + "!out"}, o},
            QueryClosure{true, {kA}},
            BuildDerivation{kDrv, sample_drv(), o},
            AddToStoreNar{info}};
}

TEST(ServeProtocol, EveryRequestRoundTripsAtEveryVersion) {
    for (unsigned minor = 0; minor <= 7; ++minor) {
        unsigned v = 0x200 | minor;
        for (const auto& r : every_request()) {
            auto bytes = encode_request(kDir, v, r);
            auto back = decode_all(bytes, [&](std::string_view d) { return decode_request(kDir, v, d); });
            Request expected = r;
            if (auto* b = std::get_if<BuildDerivation>(&expected)) {
                // What the version does not carry arrives as the default.
                if (minor < 2) b->options.max_log_size = 0;
                if (minor < 3) b->options.nr_repeats = 0, b->options.enforce_determinism = false;
                if (minor < 7) b->options.keep_failed = false;
            }
            if (auto* b = std::get_if<BuildPaths>(&expected)) {
                if (minor < 2) b->options.max_log_size = 0;
                if (minor < 3) b->options.nr_repeats = 0, b->options.enforce_determinism = false;
                if (minor < 7) b->options.keep_failed = false;
            }
            expect_same(back, expected);
        }
    }
}

TEST(ServeProtocol, BuildOptionsGates) {
    BuildOptions o{1, 2, 3, 4, true, true};
    size_t sizes[8] = {16, 16, 24, 40, 40, 40, 40, 48};
    for (unsigned minor = 0; minor <= 7; ++minor) {
        std::string out;
        WireWriter w(out);
        write_build_options(w, 0x200 | minor, o);
        EXPECT_EQ(out.size(), sizes[minor]) << "2." << minor;
    }
}

TEST(ServeProtocol, BuildDerivationLayout) {
    // The basic derivation as Nix writes it: outputs (name, path, algo, hash), inputs, platform,
    // builder, args, env; then the settings (2.7: six numbers).
    Derivation d;
    d.outputs["out"] = {kDir.print(kB), "", ""};
    d.platform = "p";
    d.builder = "b";
    std::string expected;
    WireWriter w(expected);
    w.u64(8)
        .str(kDir.print(kDrv))
        .u64(1)
        .str("out")
        .str(kDir.print(kB))
        .str("")
        .str("")
        .u64(0)
        .str("p")
        .str("b");
    w.u64(0).u64(0).u64(10).u64(20).u64(30).u64(0).u64(0).u64(1);
    EXPECT_EQ(encode_request(kDir, 0x207, BuildDerivation{kDrv, d, {10, 20, 30, 0, false, true}}), expected);
}

TEST(ServeProtocol, BuildResultGates) {
    BuildResult r{BuildStatus::timed_out, "silent", 1, true, 100, 200, {{"sha256:00!out", "{}"}}};
    for (unsigned minor = 0; minor <= 7; ++minor) {
        unsigned v = 0x200 | minor;
        auto back = decode_all(encode_build_result(v, r), [&](auto d) { return decode_build_result(v, d); });
        BuildResult expected = r;
        if (minor < 3)
            expected.times_built = 0, expected.is_non_deterministic = false,
            expected.start_time = expected.stop_time = 0;
        if (minor < 6) expected.built_outputs.clear();
        EXPECT_EQ(back, expected) << "2." << minor;
    }
    EXPECT_EQ(to_string(BuildStatus::timed_out), "TimedOut");
    std::string bad = encode_u64(77);
    EXPECT_THROW(decode_build_result(0x207, bad), ProtocolError);
}

TEST(ServeProtocol, PathInfosGates) {
    ValidPathInfo info(kB, hash_string(HashAlgo::sha256, "nar"), 1234);
    info.references = {kA};
    info.deriver = kDrv;
    info.signatures = {"k:sig"};
    ValidPathInfo bare(kA, hash_string(HashAlgo::sha256, "x"), 8);
    for (unsigned v : {0x203u, 0x204u, 0x207u}) {
        auto bytes = encode_path_infos(kDir, v, {info, bare});
        auto back = decode_all(bytes, [&](auto d) { return decode_path_infos(kDir, v, d); });
        ASSERT_EQ(back.size(), 2u);
        EXPECT_EQ(back[0].path, kB);
        EXPECT_EQ(back[0].deriver, kDrv);
        EXPECT_EQ(back[0].references, info.references);
        EXPECT_EQ(back[0].nar_size, 1234u);
        if (v >= 0x204) {
            EXPECT_EQ(back[0].nar_hash, info.nar_hash);
            EXPECT_EQ(back[0].signatures, info.signatures);
        } else {
            EXPECT_EQ(back[0].nar_hash, Hash());
        }
        EXPECT_FALSE(back[1].deriver);
    }
    EXPECT_TRUE(decode_path_infos(kDir, 0x207, encode_path_infos(kDir, 0x207, {}))->value.empty());
}

TEST(ServeProtocol, AddToStoreNarRefusesAMissingSize) {
    ValidPathInfo info(kB, hash_string(HashAlgo::sha256, "nar"), 0);
    auto bytes = encode_request(kDir, kVersion, AddToStoreNar{info});
    try {
        decode_request(kDir, kVersion, bytes);
        FAIL();
    } catch (const ProtocolError& e) {
        EXPECT_EQ(std::string(e.what()), "narInfo is too old and missing the narSize field");
    }
}

TEST(ServeProtocol, ContentAddressesAreParsedOnBothSides) {
    // As Nix's parseContentAddressOpt: AddToStoreNar (server side) and QueryPathInfos (client side).
    ValidPathInfo info(kB, hash_string(HashAlgo::sha256, "nar"), 1234);
    auto nar_hash = hash_string(HashAlgo::sha256, "contents").to_nix32_prefixed();
    for (std::string good : {"fixed:r:" + nar_hash, "fixed:" + nar_hash, "text:" + nar_hash,
                             "fixed:sha1:" + hash_string(HashAlgo::sha1, "x").to_base16()}) {
        info.ca = good;
        auto request = decode_request(kDir, kVersion, encode_request(kDir, kVersion, AddToStoreNar{info}));
        ASSERT_TRUE(request);
        EXPECT_EQ(std::get<AddToStoreNar>(request->value).info.ca, good);
        EXPECT_EQ(decode_path_infos(kDir, kVersion, encode_path_infos(kDir, kVersion, {info}))->value[0].ca,
                  good);
    }
    for (auto [bad, message] : std::vector<std::pair<std::string, std::string>>{
             {"garbage", "not a content address because it is not in the form '<prefix>:<rest>': garbage"},
             {"fixed:r:sha256:abc", "invalid sha256 hash 'abc'"},
             {"text:sha1:" + hash_string(HashAlgo::sha1, "x").to_base16(),
              "text content address hash should use sha256, but instead uses sha1"},
             {"source:sha256:" + nar_hash.substr(7), "content address prefix 'source' is unrecognized"},
             {"fixed:md6:abc", "unknown hash algorithm 'md6'"},
             {"fixed:r:" + nar_hash.substr(7), "content address hash must be in form '<algo>:<hash>'"}}) {
        info.ca = bad;
        auto expect_refused = [&](auto decode) {
            try {
                decode();
                ADD_FAILURE() << bad << " accepted";
            } catch (const ProtocolError& e) {
                EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
            }
        };
        expect_refused(
            [&] { decode_request(kDir, kVersion, encode_request(kDir, kVersion, AddToStoreNar{info})); });
        expect_refused([&] { decode_path_infos(kDir, kVersion, encode_path_infos(kDir, kVersion, {info})); });
    }
}

TEST(ServeProtocol, ImportTrailer) {
    ValidPathInfo info(kB);
    info.references = {kA};
    std::string expected;
    WireWriter(expected).u64(0x4558494e).str(kDir.print(kB)).u64(1).str(kDir.print(kA)).str("").u64(0).u64(0);
    EXPECT_EQ(encode_import_trailer(kDir, info), expected);
}

} // namespace
} // namespace ferry::serve
