// `ferry serve --write` and Debian's `nix-store --serve --write` (Nix 2.8) given the same bytes: BuildPaths
// of paths that are not valid, an unknown command, paths without signatures or content address, a content
// address that is garbage or does not match, and a client that hangs up in the middle of a request.

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "ferry/remote/serve_protocol.hh"
#include "ferry/store/content_address.hh"
#include "ferry/store/nar_dump.hh"
#include "ferry/store/staged_path.hh"
#include "ferry/util/file.hh"
#include "remote_fixture.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/http_server.hh"

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
    /// Runs `command` (nix-store's or ferry's serve, without --store) on store `name` with `input`.
    FerryResult serve_command(const std::string& command, const std::string& name, const std::string& input) {
        fs::path in = work_.path() / (name + ".in");
        write_file_atomic(in, input);
        return run_command({"/bin/sh", "-c",
                            "XDG_CACHE_HOME=" + (work_.path() / "cache").string() + " exec " + command +
                                " --store " + (work_.path() / name).string()},
                           in);
    }
    /// Whether `path` is valid in the ferry store `name`.
    bool valid_in(const std::string& name, std::string_view path) {
        return run_ferry({"path-info", "--store", (work_.path() / name).string(), std::string(path)})
                   .status == 0;
    }
    std::string request(const serve::Request& r) const { return serve::encode_request(dir_, kV, r); }
    /// AddToStoreNar of busybox (the fixture's inputs' builder), so that the store has a valid path.
    std::string add_busybox() {
        return request(serve::AddToStoreNar{local_info(kBusyboxPath)}) + read_file(busybox_nar());
    }
    /// AddToStoreNar of the derivation file `drv` (text, content-addressed) with NAR `nar`.
    std::string add_drv_file(const StorePath& drv, const std::string& text, const StorePathSet& references) {
        fs::path file = work_.path() / "drv-file";
        write_file_atomic(file, text);
        std::string nar;
        dump_path(file, [&](std::string_view chunk) { nar += chunk; });
        ValidPathInfo info(drv, hash_string(HashAlgo::sha256, nar), nar.size());
        info.references = references;
        info.ca = text_ca(hash_string(HashAlgo::sha256, text));
        return request(serve::AddToStoreNar{info}) + nar;
    }
    /// AddToStoreNar of the compat derivation `drv` and of those it needs (each once: `added`), inputs first.
    std::string add_compat_drvs(const std::string& drv, StorePathSet& added) {
        auto path = dir_.parse(drv);
        if (!added.insert(path).second) return "";
        auto entry = nlohmann::json::parse(read_file(compat_dir() / "derivations.json"))[drv];
        std::string out;
        StorePathSet refs;
        for (const auto& src : entry["inputSrcs"])
            refs.insert(dir_.parse(src.get<std::string>()));
        for (const auto& [input, _] : entry["inputDrvs"].items()) {
            out += add_compat_drvs(input, added);
            refs.insert(dir_.parse(input));
        }
        return out +
               add_drv_file(path, read_file(compat_dir() / "drv" / std::string(path.to_string())), refs);
    }
    /// plain.txt's info as the fixture has it, and its NAR.
    ValidPathInfo plain_info() const { return to_path_info(dir_, fixture_info(kPlainPath)); }
    std::string plain_nar() const { return read_file(compat_nar(fixture_info(kPlainPath))); }
};

serve::BuildPaths build_paths(std::vector<std::string> paths) {
    return serve::BuildPaths{std::move(paths), {}};
}

TEST_F(FerryServeCompatTest, BuildPathsOfInvalidPathsAnswersAsNixStoreServe) {
    std::string input =
        serve::encode_client_hello(kV) + add_busybox() + request(build_paths({std::string(kBusyboxPath)})) +
        request(build_paths({kBogus})) + request(build_paths({kBogus + ".drv!out"})) +
        request(build_paths({kBogus + ".drv"})) + request(build_paths({kBogus, kBogus + "2"})) +
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
    EXPECT_NE(ferry.err.find("error: cannot build missing derivation '" + kBogus + ".drv'"),
              std::string::npos)
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

TEST_F(FerryServeCompatTest, PathsWithoutSignaturesOrContentAddressAreAcceptedAsNixDoes) {
    // Nix 2.8 adds what ImportPaths and AddToStoreNar bring without checking signatures; a content
    // address is checked against the contents (below), its absence is fine.
    std::vector<std::string> paths{"/nix/store/8p45b1j3vhz1yq5f2cynrqhdzzknziwm-fixed-recursive",
                                   "/nix/store/j50dpv4dm8hhhp1acbzyg52c6hm45l3w-fixed-flat.txt",
                                   std::string(kPlainPath),
                                   "/nix/store/m3bcim6awl6bk3f8ifcpxbhb2lwgbll3-hello-text"};
    std::string input = serve::encode_client_hello(kV);
    StorePathSet all;
    for (const auto& p : paths) {
        auto info = to_path_info(dir_, fixture_info(p));
        info.signatures.clear();
        input += request(serve::AddToStoreNar{info}) + read_file(compat_nar(fixture_info(p)));
        all.insert(info.path);
    }
    auto imported = to_path_info(dir_, fixture_info("/nix/store/8ll9465mhdap7r4nfk2gjnmpiln3f9ls-weird-env"));
    input += request(serve::ImportPaths{}) + serve::encode_u64(1) +
             read_file(compat_nar(fixture_info(dir_.print(imported.path)))) +
             serve::encode_import_trailer(dir_, imported);
    all.insert(imported.path);
    input += request(serve::QueryPathInfos{all});
    auto nix = nix_serve("nix", input);
    auto ferry = ferry_serve("ferry", input);
    ASSERT_EQ(nix.status, 0) << nix.err;
    ASSERT_EQ(ferry.status, 0) << ferry.err;
    EXPECT_TRUE(ferry.out == nix.out) << "the answers differ";
    auto infos = serve::decode_path_infos(dir_, kV, std::string_view(ferry.out).substr(16 + 5 * 8));
    ASSERT_TRUE(infos);
    ASSERT_EQ(infos->value.size(), 5u);
    for (const auto& i : infos->value) {
        EXPECT_TRUE(i.signatures.empty());
        EXPECT_EQ(i.nar_hash, to_path_info(dir_, fixture_info(dir_.print(i.path))).nar_hash);
    }
}

TEST_F(FerryServeCompatTest, ContentAddressThatIsGarbageOrDoesNotMatchIsRefusedAsNixDoes) {
    auto plain = plain_info();
    auto wrong = hash_string(HashAlgo::sha256, "not the contents").to_nix32_prefixed();
    auto recursive_entry = fixture_info("/nix/store/8p45b1j3vhz1yq5f2cynrqhdzzknziwm-fixed-recursive");
    auto flat_entry = fixture_info("/nix/store/j50dpv4dm8hhhp1acbzyg52c6hm45l3w-fixed-flat.txt");
    struct Case {
        nlohmann::json entry;
        std::string ca;
        std::string message; // a line both print
    };
    std::vector<Case> cases{
        {fixture_info(kPlainPath), "garbage",
         "error: not a content address because it is not in the form '<prefix>:<rest>': garbage"},
        {fixture_info(kPlainPath), "nonsense:sha256:" + wrong.substr(7),
         "error: content address prefix 'nonsense' is unrecognized"},
        {fixture_info(kPlainPath), "text:" + wrong,
         "error: ca hash mismatch importing path '" + std::string(kPlainPath) + "';"},
        {fixture_info(kPlainPath), "text:sha1:0000000000000000000000000000000000000000",
         "error: text content address hash should use sha256, but instead uses sha1"},
        {recursive_entry, "fixed:r:" + wrong, "  specified: " + wrong},
        {flat_entry, "fixed:" + wrong, "  specified: " + wrong},
        {flat_entry, "fixed:r:" + recursive_entry["ca"].get<std::string>().substr(8), "  got:       sha256:"},
    };
    for (const auto& c : cases) {
        auto info = to_path_info(dir_, c.entry);
        info.ca = c.ca;
        std::string input = serve::encode_client_hello(kV) + request(serve::AddToStoreNar{info}) +
                            read_file(compat_nar(c.entry));
        auto nix = nix_serve("nix", input);
        auto ferry = ferry_serve("ferry", input);
        EXPECT_EQ(nix.status, 1) << c.ca;
        EXPECT_EQ(ferry.status, 1) << c.ca;
        EXPECT_NE(nix.err.find(c.message), std::string::npos) << nix.err;
        EXPECT_NE(ferry.err.find(c.message), std::string::npos) << ferry.err;
        // The lines that say what was specified and what arrived are the same.
        // (Nix indents an error's second and later lines by the width of "error: ".)
        auto tail = [](const std::string& err) {
            auto at = err.find("specified:");
            std::string out = at == std::string::npos ? std::string() : err.substr(at);
            for (size_t nl; (nl = out.find("\n ")) != std::string::npos;)
                out.erase(nl + 1, 1);
            return out;
        };
        EXPECT_EQ(tail(ferry.err), tail(nix.err));
        EXPECT_FALSE(valid_in("ferry", dir_.print(info.path))) << c.ca;
        EXPECT_EQ(ferry.out, nix.out); // the greeting only
    }
}

/// What a store holds besides its valid paths: entries of the staging area that are not lock files.
std::vector<std::string> staged_leftovers(const fs::path& root) {
    std::vector<std::string> out;
    fs::path staging = root / "nix/store" / kStagingDirName;
    if (!fs::exists(staging)) return out;
    for (const auto& e : fs::directory_iterator(staging))
        if (!is_staging_lock(e.path().filename().string())) out.push_back(e.path().filename().string());
    return out;
}

TEST_F(FerryServeCompatTest, ClientThatHangsUpMidRequestLeavesNothingPartial) {
    auto plain = plain_info();
    std::string add = request(serve::AddToStoreNar{plain}) + plain_nar();
    std::string import = request(serve::ImportPaths{}) + serve::encode_u64(1) + plain_nar() +
                         serve::encode_import_trailer(dir_, plain);
    // Cut inside the command's fields, inside the NAR, and just before the end of each.
    std::vector<std::string> inputs;
    for (const auto& whole : {add, import})
        for (size_t cut : {size_t(12), whole.size() - plain_nar().size() / 2 - 40, whole.size() - 1})
            inputs.push_back(whole.substr(0, cut));
    int n = 0;
    for (const auto& cut : inputs) {
        std::string input = serve::encode_client_hello(kV) + cut;
        auto nix = nix_serve("nix", input);
        // Through a pipe that closes, as an ssh client that went away.
        std::string name = "ferry-" + std::to_string(n++);
        fs::path in = work_.path() / (name + ".in");
        write_file_atomic(in, input);
        auto ferry =
            run_command({"/bin/sh", "-c",
                         "cat " + in.string() + " | exec " + (build_root() / "src/cli/ferry").string() +
                             " serve --write --store " + (work_.path() / name).string()});
        EXPECT_EQ(nix.status, 1) << nix.err;
        EXPECT_EQ(ferry.status, 1) << ferry.err;
        EXPECT_NE(ferry.err.find("error: unexpected end of input from the client"), std::string::npos)
            << ferry.err;
        EXPECT_EQ(ferry.out, serve::encode_server_hello()) << "nothing but the greeting";
        EXPECT_FALSE(valid_in(name, kPlainPath)) << "cut at " << cut.size();
        EXPECT_EQ(staged_leftovers(work_.path() / name), std::vector<std::string>{})
            << "cut at " << cut.size();
    }
}

TEST_F(FerryServeCompatTest, ClientThatHangsUpDuringABuildStopsItAndNothingIsRegistered) {
    auto t = script_job("hangs-up", "sleep 30; echo done > $out");
    std::string input = serve::encode_client_hello(kV) + add_busybox() +
                        request(serve::BuildDerivation{t->job.drv_path, t->drv, {}});
    fs::path in = work_.path() / "build.in";
    write_file_atomic(in, input);
    auto start = std::chrono::steady_clock::now();
    // The pipe closes once the request is written: the build begins and its client is gone.
    auto ferry = run_command({"/bin/sh", "-c",
                              "cat " + in.string() + " | exec " + (build_root() / "src/cli/ferry").string() +
                                  " serve --write --store " + (work_.path() / "built").string()});
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20))
        << "the build was not stopped";
    EXPECT_EQ(ferry.status, 1);
    EXPECT_NE(ferry.err.find("error: the client went away during the build of '" +
                             dir_.print(t->job.drv_path) + "'"),
              std::string::npos)
        << ferry.err;
    EXPECT_TRUE(valid_in("built", kBusyboxPath)) << "what was added before stays";
    EXPECT_FALSE(valid_in("built", dir_.print(t->job.outputs.at("out"))));
    EXPECT_EQ(staged_leftovers(work_.path() / "built"), std::vector<std::string>{});
}

TEST_F(FerryServeCompatTest, QueryValidPathsLockKeepsThePathsFromTheCollectorWhileTheSessionLasts) {
    auto added = ferry_serve("locked", serve::encode_client_hello(kV) +
                                           request(serve::AddToStoreNar{plain_info()}) + plain_nar());
    ASSERT_EQ(added.status, 0) << added.err;
    fs::path root = work_.path() / "locked";
    auto gc = [&] { return run_ferry({"store", "gc", "--store", root.string()}); };
    fs::path fifo = work_.path() / "session";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Read-write: the open does not wait for the reader, and our end is the only writer.
    UniqueFd client(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(client);
    pid_t pid = spawn_command(
        {(build_root() / "src/cli/ferry").string(), "serve", "--write", "--store", root.string()}, fifo,
        work_.path() / "session.out", work_.path() / "session.err");
    write_full(client.get(),
               serve::encode_client_hello(kV) +
                   request(serve::QueryValidPaths{true, false, {plain_info().path}}),
               "the session");
    std::string expected = serve::encode_server_hello() + serve::encode_path_set(dir_, {plain_info().path});
    for (int i = 0; i < 200 && fs::file_size(work_.path() / "session.out") < expected.size(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(read_file(work_.path() / "session.out"), expected);
    auto during = gc();
    EXPECT_EQ(during.status, 0) << during.err;
    EXPECT_TRUE(valid_in("locked", kPlainPath)) << "collected while a session had it locked";
    client.reset(); // the client goes
    EXPECT_EQ(wait_command(pid), 0) << read_file(work_.path() / "session.err");
    auto after = gc();
    EXPECT_EQ(after.status, 0) << after.err;
    EXPECT_FALSE(valid_in("locked", kPlainPath)) << "garbage once the session is over";
}

TEST_F(FerryServeCompatTest, BuildPathsBuildsAValidDerivationAndThoseItNeedsAsNix) {
    // diamond-top needs dep-chain (which needs multi-out's dev, hello-text and dir-tree), pass-as-file and
    // uses-text: seven builds, inputs first.
    auto drvs = nlohmann::json::parse(read_file(compat_dir() / "derivations.json"));
    std::string drv_path;
    for (const auto& [p, _] : drvs.items())
        if (p.ends_with("-diamond-top.drv")) drv_path = p;
    ASSERT_FALSE(drv_path.empty());
    StorePathSet added;
    auto out = dir_.parse("/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top");
    std::string input = serve::encode_client_hello(kV) + add_busybox() +
                        request(serve::AddToStoreNar{plain_info()}) + plain_nar() +
                        add_compat_drvs(drv_path, added) + request(build_paths({drv_path + "!out"})) +
                        request(serve::QueryPathInfos{{out}});
    auto nix = nix_serve("nix", input);
    auto ferry = ferry_serve("ferry", input);
    ASSERT_EQ(nix.status, 0) << nix.err;
    ASSERT_EQ(ferry.status, 0) << ferry.err;
    EXPECT_TRUE(ferry.out == nix.out) << "the answers differ";
    std::string replies = ferry.out.substr(16 + 8 * (2 + added.size()));
    EXPECT_EQ(replies.substr(0, 8), serve::encode_u64(0)) << ferry.err;
    auto infos = serve::decode_path_infos(dir_, kV, std::string_view(replies).substr(8));
    ASSERT_TRUE(infos && infos->value.size() == 1);
    EXPECT_EQ(infos->value[0].nar_hash, to_path_info(dir_, fixture_info(dir_.print(out))).nar_hash);
}

TEST_F(FerryServeCompatTest, BuildPathsOfAFailingBuildAnswersNixsStatus) {
    auto t = script_job("fails", "echo about to fail; exit 1");
    auto drv_text = read_file(local_.store->real_path(t->job.drv_path));
    std::string input = serve::encode_client_hello(kV) + add_busybox() +
                        add_drv_file(t->job.drv_path, drv_text, {dir_.parse(kBusyboxPath)}) +
                        request(build_paths({dir_.print(t->job.drv_path) + "!out"}));
    auto nix = nix_serve("nix", input);
    auto ferry = ferry_serve("ferry", input);
    ASSERT_EQ(nix.status, 0) << nix.err;
    ASSERT_EQ(ferry.status, 0) << ferry.err;
    size_t at = 16 + 2 * 8;
    ASSERT_GT(nix.out.size(), at + 8);
    ASSERT_GT(ferry.out.size(), at + 8);
    EXPECT_EQ(ferry.out.substr(at, 8), nix.out.substr(at, 8)) << "the status";
    EXPECT_EQ(ferry.out.substr(at, 8), serve::encode_u64(100)); // 0x60 | a build failed
    EXPECT_NE(ferry.out.find("builder for '"), std::string::npos) << ferry.out.substr(at);
    EXPECT_NE(ferry.err.find("about to fail"), std::string::npos) << "the build log goes to stderr";
}

std::string fixture_key() {
    std::string key = read_file(compat_dir() / "keys" / "cache.pub");
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
        key.pop_back();
    return key;
}

TEST_F(FerryServeCompatTest, QueryValidPathsSubstitutesUnderWriteAsNixDoes) {
    HttpServer cache(compat_dir() / "cache-xz");
    std::string options =
        " --option substituters " + cache.url() + " --option trusted-public-keys '" + fixture_key() + "'";
    const std::string top = "/nix/store/3l5cnidchaby89xfzibk9hrxcxj2kkmb-diamond-top";
    StorePathSet asked{dir_.parse(top), dir_.parse(kPlainPath), dir_.parse(kBogus)};
    auto query = [&](bool substitute) {
        return serve::encode_client_hello(kV) + request(serve::QueryValidPaths{false, substitute, asked});
    };
    std::string ferry_bin = (build_root() / "src/cli/ferry").string();
    // Without the flag, or without --write, nothing is fetched.
    auto plain_query = serve_command(ferry_bin + " serve --write" + options, "ferry-no-flag", query(false));
    auto read_only = serve_command(ferry_bin + " serve" + options, "ferry-read-only", query(true));
    for (const auto& r : {plain_query, read_only}) {
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.out, serve::encode_server_hello() + serve::encode_path_set(dir_, {}));
    }
    EXPECT_EQ(cache.requests(), 0u) << "the substituters are opened at the first substitution";
    auto nix = serve_command("nix-store --serve --write" + options, "nix", query(true));
    auto ferry = serve_command(ferry_bin + " serve --write" + options, "ferry", query(true));
    ASSERT_EQ(nix.status, 0) << nix.err;
    ASSERT_EQ(ferry.status, 0) << ferry.err;
    StorePathSet fetched{dir_.parse(top), dir_.parse(kPlainPath)};
    EXPECT_EQ(ferry.out, serve::encode_server_hello() + serve::encode_path_set(dir_, fetched));
    EXPECT_EQ(ferry.out, nix.out);
    // Each with its closure, as fixture's path-info.json says.
    auto top_info = fixture_info(top);
    for (const auto& ref : top_info["references"]) {
        EXPECT_TRUE(valid_in("ferry", ref.get<std::string>())) << ref;
    }
    auto info = run_ferry({"path-info", "--json", "--store", (work_.path() / "ferry").string(), top});
    EXPECT_NE(info.out.find(top_info["narHash"].get<std::string>()), std::string::npos) << info.out;
}

} // namespace
} // namespace ferry::test
