// `ferry serve --write` and Debian's `nix-store --serve --write` (Nix 2.8) given the same bytes: BuildPaths
// of paths that are not valid, an unknown command, paths without signatures or content address, a content
// address that is garbage or does not match, and a client that hangs up in the middle of a request.

#include "ferry/remote/serve_protocol.hh"
#include "remote_fixture.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"

namespace fs = std::filesystem;

namespace ferry::test {
namespace {

constexpr unsigned kV = 0x207;
const std::string kBogus = "/nix/store/00000000000000000000000000000000-nothing";

class FerryServeCompatTest : public RemoteFixture {
protected:
    FerryServeCompatTest() { isolate_config_environment(work_.path()); }

    /// Runs `nix-store --serve --write` on a fresh store named `name` with `input` on its standard input.
    FerryResult nix_serve(const std::string& name, const std::string& input) {
        fs::path in = work_.path() / (name + ".in");
        write_file_atomic(in, input);
        return run_command({"/bin/sh", "-c",
                            "XDG_CACHE_HOME=" + (work_.path() / "cache").string() +
                                " exec nix-store --serve --write --store " + (work_.path() / name).string()},
                           in);
    }
    /// The same with `ferry serve --write`.
    FerryResult ferry_serve(const std::string& name, const std::string& input) {
        fs::path in = work_.path() / (name + ".in");
        write_file_atomic(in, input);
        return run_ferry({"serve", "--write", "--store", (work_.path() / name).string()}, in);
    }
    /// Whether `path` is valid in the ferry store `name`.
    bool valid_in(const std::string& name, std::string_view path) {
        return run_ferry({"path-info", "--store", (work_.path() / name).string(), std::string(path)}).status == 0;
    }
    std::string request(const serve::Request& r) const { return serve::encode_request(dir_, kV, r); }
    /// AddToStoreNar of busybox (the fixture's inputs' builder), so that the store has a valid path.
    std::string add_busybox() {
        return request(serve::AddToStoreNar{local_info(kBusyboxPath)}) + read_file(busybox_nar());
    }
    /// plain.txt's info as the fixture has it, and its NAR.
    ValidPathInfo plain_info() const { return to_path_info(dir_, fixture_info(kPlainPath)); }
    std::string plain_nar() const { return read_file(compat_nar(fixture_info(kPlainPath))); }
};

serve::BuildPaths build_paths(std::vector<std::string> paths) {
    return serve::BuildPaths{std::move(paths), {}};
}

TEST_F(FerryServeCompatTest, BuildPathsOfInvalidPathsAnswersAsNixStoreServe) {
    std::string input = serve::encode_client_hello(kV) + add_busybox() +
                        request(build_paths({std::string(kBusyboxPath)})) + request(build_paths({kBogus})) +
                        request(build_paths({kBogus + ".drv!out"})) + request(build_paths({kBogus + ".drv"})) +
                        request(build_paths({kBogus, kBogus + "2"})) +
                        request(build_paths({kBogus, kBogus + ".drv!out", std::string(kBusyboxPath)}));
    auto nix = nix_serve("nix", input);
    auto ferry = ferry_serve("ferry", input);
    ASSERT_EQ(nix.status, 0) << nix.err;
    ASSERT_EQ(ferry.status, 0) << ferry.err;
    EXPECT_TRUE(ferry.out == nix.out) << "ferry: " << ferry.out.substr(24) << "\nnix: " << nix.out.substr(24);
    std::string busybox_built = serve::encode_server_hello() + serve::encode_u64(1) + serve::encode_u64(0);
    EXPECT_EQ(ferry.out.substr(0, busybox_built.size()), busybox_built);
    EXPECT_NE(ferry.out.find("cannot build missing derivation '\x1b[35;1m" + kBogus + ".drv\x1b[0m'"),
              std::string::npos);
    EXPECT_NE(ferry.out.find("build of \x1b[35;1m'" + kBogus + "', '" + kBogus + "2'\x1b[0m failed"),
              std::string::npos);
    // With two failures, Nix logs the derivation's error and answers "build of … failed".
    EXPECT_NE(ferry.err.find("error: cannot build missing derivation '" + kBogus + ".drv'"), std::string::npos)
        << ferry.err;
}

TEST_F(FerryServeCompatTest, UnknownCommandAndPathOutsideTheStoreEndTheSessionAsNix) {
    std::string unknown = serve::encode_client_hello(kV) + serve::encode_u64(42);
    std::string outside = serve::encode_client_hello(kV) + request(build_paths({"/tmp/x"}));
    for (const auto& [input, message] : {std::pair{unknown, std::string("error: unknown serve command 42")},
                                         std::pair{outside, std::string("error: path '/tmp/x' is not in the "
                                                                        "Nix store")}}) {
        auto nix = nix_serve("nix", input);
        auto ferry = ferry_serve("ferry", input);
        EXPECT_EQ(nix.status, 1);
        EXPECT_EQ(ferry.status, 1);
        EXPECT_NE(nix.err.find(message), std::string::npos) << nix.err;
        EXPECT_NE(ferry.err.find(message), std::string::npos) << ferry.err;
        EXPECT_EQ(ferry.out, nix.out); // the greeting only
    }
}

} // namespace
} // namespace ferry::test
