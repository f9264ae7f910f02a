// `ferry serve` as a process: Nix's messages without --write, and Debian's nix-build (Nix 2.8) building a
// fixture derivation on it through its build hook (ssh to a private sshd whose forced command is
// `ferry serve --write`).

#include <cstdlib>

#include "ferry/remote/serve_protocol.hh"
#include "remote_fixture.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"

namespace fs = std::filesystem;

namespace ferry::test {
namespace {

class FerryServeTest : public RemoteFixture {};

/// Runs `ferry serve [--write] --store <root>` with `input` on its standard input.
FerryResult serve_with_input(const fs::path& work, const std::string& input, bool write) {
    fs::path in = work / "serve-input";
    write_file_atomic(in, input);
    std::vector<std::string> args{"serve", "--store", (work / "served").string()};
    if (write) args.push_back("--write");
    return run_ferry(args, in);
}

TEST_F(FerryServeTest, AnswersTheGreetingAndQueriesAndEndsAtEndOfInput) {
    const StoreDir dir;
    auto busybox = dir.parse(kBusyboxPath);
    std::string input = serve::encode_client_hello(0x207) +
                        serve::encode_request(dir, 0x207, serve::QueryValidPaths{false, false, {busybox}}) +
                        serve::encode_request(dir, 0x207, serve::QueryPathInfos{{busybox}});
    auto r = serve_with_input(work_.path(), input, false);
    EXPECT_EQ(r.status, 0) << r.err;
    // magic, 2.7, an empty set, no infos ("").
    EXPECT_EQ(r.out, serve::encode_server_hello() + serve::encode_path_set(dir, {}) +
                         serve::encode_path_infos(dir, 0x207, {}));
}

TEST_F(FerryServeTest, WriteCommandsAreRefusedWithoutWrite) {
    const StoreDir dir;
    ValidPathInfo info(dir.parse(kPlainPath), to_path_info(dir, fixture_info(kPlainPath)).nar_hash, 144);
    auto hello = serve::encode_client_hello(0x207);
    auto r = serve_with_input(work_.path(),
                              hello + serve::encode_request(dir, 0x207, serve::AddToStoreNar{info}), false);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("error: importing paths is not allowed"), std::string::npos) << r.err;
    auto t = compat_job("nx6y523jlxy0231i9w3dbag93aw04y31-hello-text");
    r = serve_with_input(
        work_.path(),
        hello + serve::encode_request(dir, 0x207, serve::BuildDerivation{t->job.drv_path, t->drv, {}}),
        false);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("error: building paths is not allowed"), std::string::npos) << r.err;
}

TEST_F(FerryServeTest, WrongMagicIsAProtocolMismatch) {
    auto r = serve_with_input(work_.path(), serve::encode_server_hello(), false);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("error: protocol mismatch"), std::string::npos) << r.err;
}

TEST_F(FerryServeTest, AddToStoreNarChecksTheHash) {
    const StoreDir dir;
    auto entry = fixture_info(kPlainPath);
    auto nar = read_file(compat_nar(entry));
    auto good = to_path_info(dir, entry);
    auto bad = good;
    bad.nar_hash = hash_string(HashAlgo::sha256, "something else");
    auto hello = serve::encode_client_hello(0x207);
    auto r = serve_with_input(
        work_.path(), hello + serve::encode_request(dir, 0x207, serve::AddToStoreNar{bad}) + nar, true);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("hash mismatch importing path '" + std::string(kPlainPath) + "'"), std::string::npos)
        << r.err;
    r = serve_with_input(
        work_.path(),
        hello + serve::encode_request(dir, 0x207, serve::AddToStoreNar{good}) + nar +
            serve::encode_request(dir, 0x207, serve::QueryValidPaths{false, false, {good.path}}),
        true);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              serve::encode_server_hello() + serve::encode_u64(1) + serve::encode_path_set(dir, {good.path}));
}

/// The same conversation with Debian's `nix-store --serve --write` and with `ferry serve --write`, each on
/// a fresh store: add busybox, build hello-text as a basic derivation, ask for its info and NAR, ask what
/// is valid. The answers are the same bytes, but for the build's start and stop times.
TEST_F(FerryServeTest, SameConversationAsNixStoreServe) {
    isolate_config_environment(work_.path()); // the nix.conf of the fixture, for both
    const StoreDir dir;
    auto busybox = local_info(kBusyboxPath);
    auto t = compat_job("nx6y523jlxy0231i9w3dbag93aw04y31-hello-text");
    auto out = t->job.outputs.at("out");
    serve::BuildDerivation build{t->job.drv_path, t->drv, {}};
    std::string input =
        serve::encode_client_hello(0x207) + serve::encode_request(dir, 0x207, serve::AddToStoreNar{busybox}) +
        read_file(busybox_nar()) + serve::encode_request(dir, 0x207, build) +
        serve::encode_request(dir, 0x207, serve::QueryPathInfos{{out}}) +
        serve::encode_request(dir, 0x207, serve::DumpStorePath{out}) +
        serve::encode_request(dir, 0x207, serve::QueryValidPaths{false, false, {busybox.path, out}});
    fs::path in = work_.path() / "conversation";
    write_file_atomic(in, input);
    auto nix = shell_output("XDG_CACHE_HOME=" + (work_.path() / "cache").string() +
                            " nix-store --serve --write --store " + (work_.path() / "nix-direct").string() +
                            " < " + in.string() + " 2>/dev/null");
    ASSERT_TRUE(nix);
    auto ferry = run_ferry({"serve", "--write", "--store", (work_.path() / "ferry-direct").string()}, in);
    ASSERT_EQ(ferry.status, 0) << ferry.err;

    struct Answer {
        serve::BuildResult result;
        std::string rest;
    };
    auto parse = [](std::string_view bytes) {
        EXPECT_EQ(bytes.substr(0, 16), serve::encode_server_hello());
        bytes.remove_prefix(16);
        EXPECT_EQ(bytes.substr(0, 8), serve::encode_u64(1));
        bytes.remove_prefix(8);
        auto r = serve::decode_build_result(0x207, bytes);
        EXPECT_TRUE(r);
        if (!r) return Answer{};
        Answer a{r->value, std::string(bytes.substr(r->used))};
        EXPECT_LE(a.result.start_time, a.result.stop_time);
        a.result.start_time = a.result.stop_time = 0;
        return a;
    };
    auto from_nix = parse(*nix), from_ferry = parse(ferry.out);
    EXPECT_EQ(from_ferry.result.status, serve::BuildStatus::built) << from_ferry.result.error_msg;
    EXPECT_EQ(from_ferry.result, from_nix.result);
    ASSERT_EQ(from_nix.result.built_outputs.size(), 1u); // Nix 2.8 sends the realisation of out
    EXPECT_EQ(from_ferry.result.built_outputs, from_nix.result.built_outputs);
    EXPECT_TRUE(from_ferry.rest == from_nix.rest) << "the answers after BuildDerivation differ";
    EXPECT_NE(from_ferry.rest.find(read_file(compat_nar(fixture_info(dir.print(out))))), std::string::npos);
}

TEST_F(FerryServeTest, NixBuildBuildsOnFerryServeThroughItsBuildHook) {
    SshServer sshd(ferry_serve_command("ferry-remote"));
    fs::path nix_dir = work_.path() / "nix-client";
    fs::create_directories(nix_dir);
    fs::copy_file(compat_dir() / "compat.nix", nix_dir / "compat.nix");
    make_busybox_tree(nix_dir);
    std::string builders = "ssh://root@127.0.0.1 x86_64-linux " + sshd.user_key().string() + " 1 1 - - -";
    std::string env = "NIX_CONF_DIR=" + (work_.path() / "etc-nix").string() +
                      " XDG_CACHE_HOME=" + (work_.path() / "cache").string() + " NIX_SSHOPTS='-p " +
                      std::to_string(sshd.port()) + " -oUserKnownHostsFile=" + sshd.known_hosts().string() +
                      "'";
    fs::path nix_store = work_.path() / "nix-local";
    auto out = shell_output(env + " nix-build --store " + nix_store.string() + " --builders '" + builders +
                            "' --max-jobs 0 --no-out-link " + (nix_dir / "compat.nix").string() +
                            " -A hello 2>" + (work_.path() / "nix-build.err").string());
    ASSERT_TRUE(out) << read_file(work_.path() / "nix-build.err") << sshd.log();
    std::string path = *out;
    while (!path.empty() && path.back() == '\n')
        path.pop_back();
    auto expected = to_path_info(StoreDir(), fixture_info(path));
    // Bit for bit: Nix's own record of what it copied back, and the file tree itself.
    auto hash = shell_output(env + " nix-store --store " + nix_store.string() + " --query --hash " + path);
    ASSERT_TRUE(hash);
    EXPECT_EQ(*hash, expected.nar_hash.to_nix32_prefixed() + "\n");
    // Built there: valid in the store that ferry serve serves.
    auto there = run_ferry({"path-info", "--store", remote_root("ferry-remote").string(), path});
    EXPECT_EQ(there.status, 0) << there.err;
}

} // namespace
} // namespace ferry::test
