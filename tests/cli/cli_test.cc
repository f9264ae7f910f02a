// The `ferry` command line, run as a separate process on temporary stores.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include <gtest/gtest.h>

#include "cli_fixture.hh"
#include "ferry/store/store_path.hh"
#include "ferry/util/file.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

using Result = FerryResult;

/// Runs `command` (argv[0] a path), standard input from `stdin_file` (or /dev/null).
Result run_ferry_command(const std::vector<std::string>& command, const fs::path& stdin_file = "/dev/null") {
    return run_command(command, stdin_file);
}

} // namespace

TEST_F(CliTest, StoreAddOfTheBusyboxTreePrintsNixsPath) {
    auto bb = make_busybox_tree(tmp.path());
    auto r = ferry({"store", "add", bb.string(), "--name", "busybox-static"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static\n");
    auto info = ferry({"path-info", "--json", "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static"});
    ASSERT_EQ(info.status, 0) << info.err;
    auto j = nlohmann::json::parse(info.out);
    auto expected = fixture("-busybox-static");
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["narHash"], expected["narHash"]);
    EXPECT_EQ(j[0]["narSize"], expected["narSize"]);
    EXPECT_EQ(j[0]["ca"], expected["ca"]);
    // The default name is the file's name; --flat takes one file.
    auto flat = ferry({"store", "add", "--flat", (bb / "bin" / "busybox").string()});
    EXPECT_EQ(flat.status, 0) << flat.err;
    EXPECT_TRUE(flat.out.ends_with("-busybox\n")) << flat.out;
}

TEST_F(CliTest, ImportedCompatNarsShowNixsPathInfo) {
    std::vector<std::string> all{"path-info", "--json"};
    for (const auto& e : in_reference_order(compat_path_infos())) {
        auto r = ferry(import_args(e));
        ASSERT_EQ(r.status, 0) << e["path"] << ": " << r.err;
        EXPECT_EQ(r.out, "");
        all.push_back(e["path"]);
    }
    auto r = ferry(all);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(r.out.ends_with("\n")) << "nix path-info --json prints no newline";
    auto got = nlohmann::ordered_json::parse(r.out);
    auto expected = nlohmann::ordered_json::parse(read_file(compat_dir() / "path-info.json"));
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const auto &g = got[i], &x = expected[i];
        EXPECT_EQ(g["path"], x["path"]) << "same order as Nix";
        for (const char* key : {"narHash", "narSize", "references", "deriver", "ca", "signatures"})
            EXPECT_EQ(g.value(key, nlohmann::ordered_json()), x.value(key, nlohmann::ordered_json()))
                << key << " of " << x["path"];
        // Keys in Nix's order; "ultimate" is for paths this store built, not imported ones.
        std::vector<std::string> gkeys, xkeys;
        for (const auto& [k, v] : g.items())
            gkeys.push_back(k);
        for (const auto& [k, v] : x.items())
            if (k != "ultimate") xkeys.push_back(k);
        EXPECT_EQ(gkeys, xkeys) << x["path"];
    }
    // The closure of diamond-top, sorted, one per line; with sizes like nix path-info -S.
    auto top = fixture("-diamond-top")["path"].get<std::string>();
    auto closure = ferry({"path-info", "-r", top});
    ASSERT_EQ(closure.status, 0) << closure.err;
    std::map<std::string, nlohmann::json> by_path;
    for (const auto& x : compat_path_infos())
        by_path[x["path"]] = x;
    std::set<std::string> want;
    std::vector<std::string> todo{top};
    while (!todo.empty()) {
        auto p = todo.back();
        todo.pop_back();
        if (!want.insert(p).second) continue;
        for (const auto& ref : by_path.at(p)["references"])
            todo.push_back(ref);
    }
    std::string lines;
    for (const auto& p : want)
        lines += p + "\n"; // sorted like Nix's StorePathSet (by hash part)
    EXPECT_EQ(closure.out, lines);
    auto with_size = ferry({"path-info", "--json", "--closure-size", top});
    auto sized = nlohmann::ordered_json::parse(with_size.out).at(0);
    uint64_t total = 0;
    for (const auto& p : want)
        total += by_path.at(p)["narSize"].get<uint64_t>();
    EXPECT_EQ(sized["closureSize"], total);
    std::vector<std::string> keys;
    for (const auto& [k, v] : sized.items())
        keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"path", "narHash", "narSize", "references", "closureSize",
                                              "deriver", "registrationTime", "signatures"}));
    auto plain = ferry({"path-info", "-sS", fixture("-hello-text")["path"]});
    EXPECT_EQ(plain.out, fixture("-hello-text")["path"].get<std::string>() + "\t        120\t        120\n");
}

TEST_F(CliTest, WrongHashIsAOneLineErrorAndChangesNothing) {
    auto e = fixture("-dir-tree");
    auto args = import_args(e);
    auto wrong = "sha256-" + std::string(43, 'A') + "=";
    std::replace(args.begin(), args.end(), e["narHash"].get<std::string>(), wrong);
    auto r = ferry(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("NAR hash mismatch"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(e["path"].get<std::string>()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(wrong), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(e["narHash"].get<std::string>()), std::string::npos) << r.err;
    expect_empty_store();
    auto info = ferry({"path-info", e["path"]});
    EXPECT_EQ(info.status, 1);
    EXPECT_EQ(info.err, "error: path '" + e["path"].get<std::string>() + "' is not valid\n");
}

TEST_F(CliTest, TruncatedNarIsAnErrorAndChangesNothing) {
    auto e = fixture("-dir-tree");
    std::string nar = read_file(compat_nar(e));
    write_file_atomic(tmp.path() / "cut.nar", nar.substr(0, nar.size() / 2));
    auto args = import_args(e);
    args[2] = (tmp.path() / "cut.nar").string();
    auto r = ferry(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    expect_empty_store();
}

TEST_F(CliTest, DumpAndRestoreRoundTrip) {
    auto e = fixture("-dir-tree");
    ASSERT_EQ(ferry(import_args(e)).status, 0);
    std::string nar = read_file(compat_nar(e));
    auto dumped = ferry({"store", "dump", e["path"]});
    EXPECT_EQ(dumped.status, 0) << dumped.err;
    EXPECT_TRUE(dumped.out == nar) << "store dump differs from nix-store --dump";

    fs::path dest = tmp.path() / "restored";
    auto restored = ferry({"store", "restore", dest.string()}, compat_nar(e));
    EXPECT_EQ(restored.status, 0) << restored.err;
    auto again = ferry({"store", "dump", dest.string()});
    EXPECT_TRUE(again.out == nar) << "a local path dumps the same";
    auto sub = ferry({"store", "dump", e["path"].get<std::string>() + "/sub/file.txt"});
    EXPECT_EQ(sub.status, 0) << sub.err;
    EXPECT_NE(sub.out.find("data\n"), std::string::npos);

    auto exists = ferry({"store", "restore", dest.string()}, compat_nar(e));
    EXPECT_EQ(exists.status, 1);
    EXPECT_NE(exists.err.find("already exists"), std::string::npos) << exists.err;
    auto invalid = ferry({"store", "dump", fixture("-hello-text")["path"]});
    EXPECT_EQ(invalid.status, 1);
    EXPECT_NE(invalid.err.find("is not valid"), std::string::npos) << invalid.err;
}

TEST_F(CliTest, HelpAndUsageErrors) {
    for (std::vector<std::string> cmd : {std::vector<std::string>{"store", "add"},
                                         {"store", "dump"},
                                         {"store", "restore"},
                                         {"store", "import"},
                                         {"path-info"}}) {
        cmd.push_back("--help");
        auto r = ferry(cmd);
        EXPECT_EQ(r.status, 0) << cmd[1];
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd[1] << r.out;
    }
    auto missing = ferry({"store", "import", "x.nar"});
    EXPECT_EQ(missing.status, 2);
    auto not_store = ferry({"path-info", "/tmp/not-a-store-path"});
    EXPECT_EQ(not_store.status, 2);
    EXPECT_NE(not_store.err.find("not a store path"), std::string::npos) << not_store.err;
}

// The busybox input and the builtins.toFile text of compat.nix, then every fixture .drv.
TEST_F(CliTest, DerivationAddAndShowMatchNix) {
    auto bb = fixture("-busybox-static");
    ASSERT_EQ(ferry(import_args(bb)).status, 0);
    auto text = tmp.path() / "plain.txt";
    write_file_atomic(text, "a text file made by toFile\n");
    auto added_text = ferry({"store", "add", "--text", text.string()});
    ASSERT_EQ(added_text.status, 0) << added_text.err;
    EXPECT_EQ(added_text.out, "/nix/store/avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt\n");

    std::vector<std::string> add{"derivation", "add"};
    std::set<std::string> expected;
    for (const auto& e : fs::directory_iterator(compat_dir() / "drv")) {
        add.push_back(e.path().string());
        expected.insert("/nix/store/" + e.path().filename().string());
    }
    auto r = ferry(add);
    ASSERT_EQ(r.status, 0) << r.err;
    std::set<std::string> printed;
    for (size_t pos = 0, nl; (nl = r.out.find('\n', pos)) != std::string::npos; pos = nl + 1)
        printed.insert(r.out.substr(pos, nl - pos));
    EXPECT_EQ(printed, expected);

    std::vector<std::string> show{"derivation", "show"};
    show.insert(show.end(), expected.begin(), expected.end());
    auto shown = ferry(show);
    ASSERT_EQ(shown.status, 0) << shown.err;
    auto file = read_file(compat_dir() / "derivations.json");
    EXPECT_EQ(shown.out.substr(0, shown.out.find_last_not_of('\n') + 1),
              file.substr(0, file.find_last_not_of('\n') + 1));

    // -r from the top of the diamond reaches its whole input graph.
    auto rec =
        ferry({"derivation", "show", "-r", "/nix/store/mfwsh93s00bykfhpqj08wy294vhw3a74-diamond-top.drv"});
    ASSERT_EQ(rec.status, 0) << rec.err;
    auto j = nlohmann::json::parse(rec.out);
    EXPECT_EQ(j.size(),
              7u); // diamond-top, dep-chain, uses-text, pass-as-file, hello-text, dir-tree, multi-out
}

TEST_F(CliTest, DerivationAddRejectsBrokenFiles) {
    auto missing_input =
        ferry({"derivation", "add",
               (compat_dir() / "drv" / "nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv").string()});
    EXPECT_EQ(missing_input.status, 1);
    EXPECT_NE(missing_input.err.find("busybox-static' is not valid"), std::string::npos) << missing_input.err;
    auto broken = ferry({"derivation", "add", (test_data_dir() / "drv" / "truncated.drv").string()});
    EXPECT_EQ(broken.status, 1);
    EXPECT_NE(broken.err.find("malformed derivation"), std::string::npos) << broken.err;
    EXPECT_EQ(std::count(broken.err.begin(), broken.err.end(), '\n'), 1) << broken.err;
    expect_empty_store();
}

TEST_F(CliTest, HashCommands) {
    auto tree = make_busybox_tree(tmp.path());
    auto path = ferry({"hash", "path", "--format", "nix32", tree.string()});
    EXPECT_EQ(path.out, "0m54h46i7lwk20d2vihhq0fq7ns5ypg44viy8bxxnfqpz3y9a10x\n") << path.err;
    auto sri = ferry({"hash", "path", tree.string()});
    EXPECT_EQ(sri.out, "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFQ=\n") << sri.err;
    auto file = tmp.path() / "f";
    write_file_atomic(file, "abc");
    EXPECT_EQ(ferry({"hash", "file", "--type", "sha1", "--format", "base16", file.string()}).out,
              "a9993e364706816aba3e25717850c26c9cd0d89d\n");
    EXPECT_EQ(
        ferry({"hash", "convert", "--to", "nix32", "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFQ="})
            .out,
        "0m54h46i7lwk20d2vihhq0fq7ns5ypg44viy8bxxnfqpz3y9a10x\n");
    auto bad = ferry({"hash", "convert", "sha256:xyz"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("sha256:xyz"), std::string::npos) << bad.err;
    auto usage = ferry({"hash", "path", "--type", "sha3", tree.string()});
    EXPECT_EQ(usage.status, 2) << usage.err;
}

// The whole compat graph, built from its .drv files with no substituter, with and without the sandbox:
// every output's NAR hash and references equal Nix 2.8's.
class CliBuildTest : public CliTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(CliBuildTest, CompatGraphBuildsBitForBitWithNix) {
    ASSERT_EQ(ferry(import_args(fixture("-busybox-static"))).status, 0);
    auto text = tmp.path() / "plain.txt";
    write_file_atomic(text, "a text file made by toFile\n");
    ASSERT_EQ(ferry({"store", "add", "--text", text.string()}).status, 0);
    std::vector<std::string> build{"--option", "sandbox", GetParam(), "build", "--no-out-link", "-j", "4"};
    for (const auto& e : fs::directory_iterator(compat_dir() / "drv"))
        build.push_back(e.path().string());
    auto r = ferry(build);
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> info{"path-info", "--json"};
    for (size_t pos = 0, nl; (nl = r.out.find('\n', pos)) != std::string::npos; pos = nl + 1)
        info.push_back(r.out.substr(pos, nl - pos));
    EXPECT_EQ(info.size(), 2u + 13u);
    auto got = ferry(info);
    ASSERT_EQ(got.status, 0) << got.err;
    size_t compared = 0;
    for (const auto& e : nlohmann::json::parse(got.out)) {
        auto expected = fixture(e["path"].get<std::string>().substr(43));
        EXPECT_EQ(e["narHash"], expected["narHash"]) << e["path"];
        EXPECT_EQ(e["narSize"], expected["narSize"]) << e["path"];
        EXPECT_EQ(e["references"], expected["references"]) << e["path"];
        EXPECT_EQ(e["deriver"], expected["deriver"]) << e["path"];
        ++compared;
    }
    EXPECT_EQ(compared, 13u);
    // The build logs are kept.
    auto log = ferry({"log", "/nix/store/nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv"});
    EXPECT_EQ(log.status, 0) << log.err;
}

INSTANTIATE_TEST_SUITE_P(Sandbox, CliBuildTest, ::testing::Values("true", "false"));

TEST_F(CliTest, SigintStopsABuildCleanlyAndASecondRunFinishes) {
    ASSERT_EQ(ferry(import_args(fixture("-busybox-static"))).status, 0);
    auto files = sleepy_derivations(tmp.path(), 24, "0.4");
    std::vector<std::string> args{"--store", root.string(), "build", "--no-out-link", "-j", "4"};
    args.insert(args.end(), files.begin(), files.end());

    // Start ferry, interrupt it after a second.
    std::vector<std::string> command{(build_root() / "src" / "cli" / "ferry").string()};
    command.insert(command.end(), args.begin(), args.end());
    auto err = tmp.path() / "err";
    pid_t pid = spawn_command(command, "/dev/null", "/dev/null", err);
    ::usleep(1200 * 1000);
    ::kill(pid, SIGINT);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal";
    EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(err);
    EXPECT_NE(read_file(err).find("interrupted"), std::string::npos) << read_file(err);

    // Consistent: nothing staged, every valid path has its files, some but not all were built.
    for (const auto& e : fs::directory_iterator(config.staging_dir()))
        EXPECT_TRUE(is_staging_lock(e.path().filename().string())) << e.path();
    size_t built = 0;
    for (int i = 0; i < 24; ++i) {
        auto show = ferry({"derivation", "show", files[i]});
        auto out =
            nlohmann::json::parse(show.out).begin().value()["outputs"]["out"]["path"].get<std::string>();
        auto info = ferry({"path-info", out});
        if (info.status == 0) {
            ++built;
            EXPECT_TRUE(fs::exists(config.real_store_dir() / out.substr(11))) << out;
        }
    }
    EXPECT_LT(built, 24u);

    auto again = ferry(std::vector<std::string>(args.begin() + 2, args.end()));
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(std::count(again.out.begin(), again.out.end(), '\n'), 24);
}

// On a terminal (a pty made by util-linux's `script`), ferry draws its progress line, redrawn in place.
TEST_F(CliTest, ProgressLineOnATerminal) {
    if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "util-linux's script is not installed";
    ASSERT_EQ(ferry(import_args(fixture("-busybox-static"))).status, 0);
    auto files = sleepy_derivations(tmp.path(), 3, "0.3");
    std::string cmd = (build_root() / "src" / "cli" / "ferry").string() + " --store " + root.string() +
                      " build --no-out-link -j 3";
    for (const auto& f : files)
        cmd += " " + f;
    auto r = run_ferry_command({"/usr/bin/script", "-qfec", cmd, "/dev/null"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("\r\033[K[0/3 built, 0/0 fetched, 3 running]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[3/3 built"), std::string::npos) << r.out;
    // Messages are printed above the line, which is erased at the end.
    EXPECT_NE(r.out.find("building '"), std::string::npos) << r.out;
}

// --check: the derivations given are built again in the sandbox and compared with their valid outputs.
TEST_F(CliTest, CheckRebuildsInTheSandboxAndNamesANonDeterministicOutput) {
    ASSERT_EQ(ferry(import_args(fixture("-busybox-static"))).status, 0);
    auto steady = busybox_derivation(tmp.path(), "steady", "echo same > $out");
    auto random =
        busybox_derivation(tmp.path(), "random", "$bb/busybox cat /proc/sys/kernel/random/uuid > $out");
    auto build = [&](std::vector<std::string> extra, const std::string& file, const char* sandbox = "true") {
        std::vector<std::string> args{"--option", "sandbox", sandbox, "build", "--no-out-link"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(file);
        return ferry(args);
    };

    auto unchecked = build({"--check"}, steady);
    EXPECT_EQ(unchecked.status, 1);
    EXPECT_NE(unchecked.err.find("are not valid, so checking is not possible"), std::string::npos)
        << unchecked.err;

    auto first = build({}, steady);
    ASSERT_EQ(first.status, 0) << first.err;
    auto checked = build({"--check"}, steady);
    EXPECT_EQ(checked.status, 0) << checked.err;
    EXPECT_EQ(checked.out, first.out);

    auto made = build({}, random);
    ASSERT_EQ(made.status, 0) << made.err;
    auto out = made.out.substr(0, made.out.find('\n'));
    auto real = config.real_store_dir() / out.substr(11);
    auto valid = read_file(real);
    fs::path kept = real.string() + ".check";

    auto differs = build({"--check"}, random);
    EXPECT_EQ(differs.status, 104) << "Nix's exit status for a build that is not deterministic";
    EXPECT_NE(differs.err.find("may not be deterministic: output '" + out + "' differs\n"), std::string::npos)
        << differs.err;
    EXPECT_FALSE(fs::exists(kept));

    auto keep = build({"--check", "-K"}, random);
    EXPECT_EQ(keep.status, 104);
    EXPECT_NE(
        keep.err.find("may not be deterministic: output '" + out + "' differs from '" + kept.string() + "'"),
        std::string::npos)
        << keep.err;
    ASSERT_TRUE(fs::exists(kept));
    EXPECT_NE(read_file(kept), valid);

    auto unsandboxed = build({"--check"}, random, "false");
    EXPECT_EQ(unsandboxed.status, 100) << "a builder that cannot start is a failed build, as in Nix";
    EXPECT_NE(unsandboxed.err.find("cannot check"), std::string::npos) << unsandboxed.err;

    // The valid output and its registration are untouched by all of it.
    EXPECT_EQ(read_file(real), valid);
    EXPECT_EQ(ferry({"path-info", out}).status, 0);
    for (const auto& e : fs::directory_iterator(config.staging_dir()))
        EXPECT_TRUE(is_staging_lock(e.path().filename().string())) << e.path();
}
