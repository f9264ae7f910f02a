// `ferry build` from Nix expressions, evaluated by Debian's nix-instantiate in a temporary Nix store:
// the outputs are the paths Debian's nix-build prints for the same file, with the NAR hashes of Nix's
// sandboxed build. Also -E, ./default.nix, --stdin, --from-eval-jobs, evaluation errors, Nix missing;
// and nothing is left behind: no /nix/store entry, no temporary store.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <set>

#include <gtest/gtest.h>

#include "ferry/util/file.hh"
#include "ferry/util/hash.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

// Several attributes: a derivation depending on another, on a builtins.toFile text and on the
// arguments, and one with two outputs.
constexpr const char* kExpression = R"nix({ greeting ? "hello", count ? 1 }:
let
  bb = builtins.path { path = ./bb; name = "busybox-static"; };
  note = builtins.toFile "note.txt" "a note made by toFile\n";
  mkWith = attrs: derivation ({
    system = "x86_64-linux";
    builder = "${bb}/bin/sh";
    PATH = "${bb}/bin";
  } // attrs);
  mk = name: script: mkWith { inherit name; args = [ "-c" script ]; };
in rec {
  text = mk "text" "echo ${greeting} > $out";
  counted = mk "counted-${toString count}" "busybox seq ${toString count} > $out; cat ${note} >> $out";
  tree = mk "tree" "mkdir -p $out/sub; cp ${text} $out/sub/text; ln -s sub/text $out/link";
  multi = mkWith {
    name = "multi";
    outputs = [ "out" "dev" ];
    args = [ "-c" "mkdir $out $dev; echo ${greeting} > $dev/greeting; cp ${counted} $out/counted" ];
  };
}
)nix";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1)
        out.push_back(text.substr(pos, nl - pos));
    return out;
}

std::set<std::string> host_store_entries() {
    std::set<std::string> out;
    if (fs::is_directory("/nix/store"))
        for (const auto& e : fs::directory_iterator("/nix/store"))
            out.insert(e.path().filename().string());
    return out;
}

struct EvalTest : ::testing::Test {
    TempDir tmp;
    fs::path root = tmp.path() / "root";
    fs::path work = tmp.path() / "work";
    fs::path ferry_tmp = tmp.path() / "ferry-tmp";
    fs::path home = tmp.path() / "home";
    std::set<std::string> host_before = host_store_entries();

    void SetUp() override {
        // No Nix configuration of the host reaches ferry (nix-instantiate gets its own below).
        isolate_config_environment(tmp.path() / "env");
        fs::create_directories(work);
        fs::create_directories(ferry_tmp);
        fs::create_directories(home);
        make_busybox_tree(work);
        write_file_atomic(work / "t.nix", kExpression);
    }

    void TearDown() override {
        EXPECT_EQ(host_store_entries(), host_before) << "the host's /nix/store changed";
        for (const auto& e : fs::directory_iterator(ferry_tmp))
            ADD_FAILURE() << "left behind: " << e.path();
    }

    /// Runs ferry in `work` with its own TMPDIR and HOME (and `env`, "NAME=VALUE"), on the store `root`.
    FerryResult ferry(const std::vector<std::string>& args, const fs::path& in = "/dev/null",
                      const std::vector<std::string>& env = {}) {
        std::vector<std::string> command{"/usr/bin/env", "TMPDIR=" + ferry_tmp.string(),
                                         "HOME=" + home.string(),
                                         "XDG_CACHE_HOME=" + (home / "cache").string()};
        command.insert(command.end(), env.begin(), env.end());
        command.insert(command.end(),
                       {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", work.string(),
                        (build_root() / "src" / "cli" / "ferry").string(), "--store", root.string()});
        command.insert(command.end(), args.begin(), args.end());
        return run_command(command, in);
    }

    /// Runs a Nix program in `work` against the Nix store `local?root=<nix_root>`, with a nix.conf of
    /// its own: Nix's sandbox, one core, no substituters, no build users.
    FerryResult nix(const std::string& program, const fs::path& nix_root,
                    const std::vector<std::string>& args) {
        auto conf = tmp.path() / "nix-conf";
        fs::create_directories(conf);
        write_file_atomic(conf / "nix.conf",
                          "build-users-group =\nsandbox = true\ncores = 1\nsubstituters =\n");
        std::vector<std::string> command{"/usr/bin/env",
                                         "NIX_CONF_DIR=" + conf.string(),
                                         "HOME=" + home.string(),
                                         "XDG_CACHE_HOME=" + (home / "cache").string(),
                                         "/bin/sh",
                                         "-c",
                                         "cd \"$0\" && exec \"$@\"",
                                         work.string(),
                                         program,
                                         "--store",
                                         "local?root=" + nix_root.string()};
        command.insert(command.end(), args.begin(), args.end());
        return run_command(command);
    }

    /// nix-instantiate's lines for `args` in a Nix store of its own under tmp/`name`.
    std::vector<std::string> instantiate(const std::string& name, const std::vector<std::string>& args) {
        auto r = nix("nix-instantiate", tmp.path() / name, args);
        EXPECT_EQ(r.status, 0) << r.err;
        return lines_of(r.out);
    }

    /// Output path → NAR hash (nix32, "sha256:…") in ferry's store.
    std::string ferry_nar_hash(const std::string& path) {
        auto r = ferry({"path-info", "--json", path});
        EXPECT_EQ(r.status, 0) << r.err;
        if (r.status != 0) return "";
        auto sri = nlohmann::json::parse(r.out)[0]["narHash"].get<std::string>();
        return Hash::parse(sri).to_string(HashFormat::nix32, true);
    }
};

bool nix_installed() {
    return ::access("/usr/bin/nix-instantiate", X_OK) == 0 && ::access("/usr/bin/nix-build", X_OK) == 0;
}

#define REQUIRE_NIX()                                                                                        \
    if (!nix_installed()) GTEST_SKIP() << "Debian's nix-bin is not installed"

} // namespace

// The paths printed are nix-build's; as root, the outputs are bit for bit those of Nix's sandbox.
TEST_F(EvalTest, BuildsAttributesAsNixBuildDoes) {
    REQUIRE_NIX();
    std::vector<std::string> select{"t.nix",    "-A", "text",  "-A",    "counted",   "-A",
                                    "tree",     "-A", "multi", "-A",    "multi.dev", "--argstr",
                                    "greeting", "hi", "--arg", "count", "2 + 1"};
    std::vector<std::string> args{"build"};
    args.insert(args.end(), select.begin(), select.end());
    auto r = ferry(args);
    ASSERT_EQ(r.status, 0) << r.err;
    auto outputs = lines_of(r.out);
    ASSERT_EQ(outputs.size(), 5u) << r.out;
    EXPECT_TRUE(outputs[0].ends_with("-text") && outputs[1].ends_with("-counted-3") &&
                outputs[3].ends_with("-multi") && outputs[4].ends_with("-multi-dev"))
        << r.out;
    // What the builds made, through the ./result links nix-build would have made.
    EXPECT_EQ(read_file(work / "result"), "hi\n");
    EXPECT_EQ(read_file(work / "result-2"), "1\n2\n3\na note made by toFile\n");
    EXPECT_EQ(read_file(work / "result-3" / "link"), "hi\n");
    EXPECT_EQ(read_file(work / "result-4" / "counted"), read_file(work / "result-2"));
    EXPECT_EQ(read_file(work / "result-5-dev" / "greeting"), "hi\n");
    // The evaluation's busybox is the fixture's path, imported with Nix's NAR hash and content address;
    // the .drv files are text paths.
    auto info = ferry({"path-info", "--json", "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static"});
    ASSERT_EQ(info.status, 0) << info.err;
    size_t compared = 0;
    for (const auto& e : compat_path_infos())
        if (e["path"] == "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static") {
            EXPECT_EQ(nlohmann::json::parse(info.out)[0]["narHash"], e["narHash"]);
            EXPECT_EQ(nlohmann::json::parse(info.out)[0]["ca"], e["ca"]);
            ++compared;
        }
    EXPECT_EQ(compared, 1u);
    auto text = ferry({"path-info", "--json", outputs[0]});
    ASSERT_EQ(text.status, 0) << text.err;
    auto deriver = nlohmann::json::parse(text.out)[0]["deriver"].get<std::string>();
    auto drv = ferry({"path-info", "--json", deriver});
    ASSERT_EQ(drv.status, 0) << drv.err;
    EXPECT_TRUE(nlohmann::json::parse(drv.out)[0]["ca"].get<std::string>().starts_with("text:sha256:"))
        << drv.out;

    if (::geteuid() != 0) GTEST_SKIP() << "Nix's sandbox with a fresh --store is run as root here";
    std::vector<std::string> nix_args(select);
    nix_args.insert(nix_args.end(), {"--no-out-link"});
    auto nix_root = tmp.path() / "nix-build";
    auto built = nix("nix-build", nix_root, nix_args);
    ASSERT_EQ(built.status, 0) << built.err;
    EXPECT_EQ(lines_of(built.out), outputs) << "ferry and nix-build print different paths";
    for (const auto& out : outputs) {
        SCOPED_TRACE(out);
        auto hash = nix("nix-store", nix_root, {"--query", "--hash", out});
        ASSERT_EQ(hash.status, 0) << hash.err;
        EXPECT_EQ(ferry_nar_hash(out) + "\n", hash.out);
    }
}

/// The path in nix-instantiate --eval's output ("\"/nix/store/…\"\n").
std::string unquote(const std::vector<std::string>& lines) {
    return lines.size() == 1 && lines[0].size() > 2 ? lines[0].substr(1, lines[0].size() - 2) : "";
}

// No argument: ./default.nix. -E: an expression, read relative to the current directory.
TEST_F(EvalTest, DefaultNixAndExpressions) {
    REQUIRE_NIX();
    write_file_atomic(work / "default.nix", "(import ./t.nix { greeting = \"from default.nix\"; }).text\n");
    auto r = ferry({"build"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(work / "result"), "from default.nix\n");
    EXPECT_EQ(r.out,
              unquote(instantiate("nix-default", {"--eval", "-E", "(import ./default.nix).outPath"})) + "\n");

    const std::string expr = "(import ./t.nix { greeting = \"from -E\"; }).tree";
    auto e = ferry({"build", "--no-out-link", "-E", expr});
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(e.out, unquote(instantiate("nix-expr", {"--eval", "-E", "(" + expr + ").outPath"})) + "\n");
    EXPECT_EQ(read_file(root / e.out.substr(1, e.out.size() - 2) / "link"), "from -E\n");
    // With other targets there is no ./default.nix: a store path alone is built as it is.
    auto busybox = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";
    auto alone = ferry({"build", "--no-out-link", busybox});
    EXPECT_EQ(alone.status, 0) << alone.err;
    EXPECT_EQ(alone.out, std::string(busybox) + "\n");
    // Also by its physical path, though it is a directory like a Nix expression's.
    auto physical = ferry({"build", "--no-out-link", (root / std::string(busybox).substr(1)).string()});
    EXPECT_EQ(physical.status, 0) << physical.err;
    EXPECT_EQ(physical.out, std::string(busybox) + "\n");
}

// --stdin: what nix-instantiate printed (.drv paths, "!dev"), written to ferry's standard input, with
// a store path; the derivations come from the Nix store --eval-store names.
TEST_F(EvalTest, TargetsFromStandardInput) {
    REQUIRE_NIX();
    auto drvs = instantiate("nix-eval", {"t.nix", "-A", "text", "-A", "multi.dev"});
    ASSERT_EQ(drvs.size(), 2u);
    EXPECT_TRUE(drvs[1].ends_with(".drv!dev")) << drvs[1];
    auto expected = instantiate("nix-eval", {"--eval", "--strict", "-E",
                                             "with import ./t.nix {}; [ text.outPath multi.dev.outPath ]"});
    write_file_atomic(tmp.path() / "targets",
                      "  " + drvs[0] + "\n\n" + drvs[1] +
                          "\n/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static\n");
    auto r = ferry({"build", "--no-out-link", "--stdin", "--eval-store",
                    "local?root=" + (tmp.path() / "nix-eval").string()},
                   tmp.path() / "targets");
    ASSERT_EQ(r.status, 0) << r.err;
    auto out = lines_of(r.out);
    ASSERT_EQ(out.size(), 3u) << r.out;
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0], "[ \"" + out[0] + "\" \"" + out[1] + "\" ]");
    EXPECT_EQ(out[2], "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static");

    write_file_atomic(tmp.path() / "bad", drvs[0] + "\nnot-a-path\n");
    auto bad = ferry({"build", "--stdin"}, tmp.path() / "bad");
    EXPECT_EQ(bad.status, 2) << bad.err;
    EXPECT_NE(bad.err.find("standard input, line 2"), std::string::npos) << bad.err;
}

// --from-eval-jobs: nix-eval-jobs' JSON lines; the line with an error is reported and skipped, the
// others are built, and the exit code says that not everything was.
TEST_F(EvalTest, TargetsFromEvalJobs) {
    REQUIRE_NIX();
    auto drvs = instantiate("nix-eval", {"t.nix", "-A", "text", "-A", "counted"});
    ASSERT_EQ(drvs.size(), 2u);
    nlohmann::json text{{"attr", "text"},
                        {"attrPath", {"text"}},
                        {"drvPath", drvs[0]},
                        {"name", "text"},
                        {"system", "x86_64-linux"}};
    nlohmann::json broken{
        {"attr", "broken"}, {"attrPath", {"broken"}}, {"error", "error: attribute 'nope' missing"}};
    nlohmann::json counted{
        {"attr", "counted"}, {"attrPath", {"counted"}}, {"drvPath", drvs[1]}, {"name", "counted-1"}};
    write_file_atomic(tmp.path() / "jobs.jsonl",
                      text.dump() + "\n" + broken.dump() + "\n" + counted.dump() + "\n");
    auto eval_store = "local?root=" + (tmp.path() / "nix-eval").string();
    for (bool from_stdin : {false, true}) {
        SCOPED_TRACE(from_stdin ? "-" : "FILE");
        auto jobs = (tmp.path() / "jobs.jsonl").string();
        auto r = ferry({"build", "--no-out-link", "--eval-store", eval_store, "--from-eval-jobs",
                        from_stdin ? "-" : jobs},
                       from_stdin ? fs::path(jobs) : fs::path("/dev/null"));
        EXPECT_EQ(r.status, 1) << r.err;
        auto out = lines_of(r.out);
        ASSERT_EQ(out.size(), 2u) << r.out << r.err;
        EXPECT_TRUE(out[0].ends_with("-text") && out[1].ends_with("-counted-1")) << r.out;
        EXPECT_NE(
            r.err.find("attribute 'broken' failed to evaluate, skipped: error: attribute 'nope' missing"),
            std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("error: 1 attribute of --from-eval-jobs failed to evaluate and was not built\n"),
                  std::string::npos)
            << r.err;
        EXPECT_EQ(ferry({"path-info", out[1]}).status, 0);
    }
    write_file_atomic(tmp.path() / "bad.jsonl", text.dump() + "\n{\"attr\": \"x\"\n");
    auto bad =
        ferry({"build", "--eval-store", eval_store, "--from-eval-jobs", (tmp.path() / "bad.jsonl").string()});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("bad.jsonl', line 2: not a JSON object"), std::string::npos) << bad.err;
}

// Nix's own message, then one line of ferry's; exit 1; nothing in ferry's store.
TEST_F(EvalTest, EvaluationErrorsArePassedOn) {
    REQUIRE_NIX();
    auto r = ferry({"build", "-E", "throw \"no such thing: 42\""});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no such thing: 42"), std::string::npos) << r.err;
    auto err = lines_of(r.err);
    ASSERT_FALSE(err.empty());
    EXPECT_EQ(err.back(), "error: nix-instantiate could not evaluate the expression 'throw \"no such thing: "
                          "42\"' (exit code 1)");

    auto missing = ferry({"build", "t.nix", "-A", "nope"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("attribute 'nope' in selection path 'nope' not found"), std::string::npos)
        << missing.err;
    EXPECT_FALSE(fs::exists(work / "result"));
    EXPECT_EQ(ferry({"path-info", "-r", "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static"}).status,
              1)
        << "nothing was imported";

    auto usage = ferry({"build", "-A", "text", "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static"});
    EXPECT_EQ(usage.status, 2) << usage.err;
}

// SIGINT during a long evaluation reaches nix-instantiate too; ferry exits with 130 and removes its
// temporary Nix store (TearDown checks).
TEST_F(EvalTest, InterruptedEvaluationStopsCleanly) {
    REQUIRE_NIX();
    std::vector<std::string> command{
        "/usr/bin/env", "TMPDIR=" + ferry_tmp.string(), "HOME=" + home.string(),
        (build_root() / "src" / "cli" / "ferry").string(), "--store", root.string(), "build", "-E",
        // About 15 s of evaluation in little memory, unless interrupted.
        "builtins.foldl' (a: i: a + builtins.length (builtins.genList (x: x) 1000)) 0 "
        "(builtins.genList (x: x) 150000)"};
    auto err = tmp.path() / "err";
    pid_t pid = spawn_command(command, "/dev/null", "/dev/null", err);
    // Once the temporary store exists, nix-instantiate is running.
    for (int i = 0; i < 100 && fs::is_empty(ferry_tmp); ++i)
        ::usleep(50 * 1000);
    ::usleep(300 * 1000);
    ::kill(pid, SIGINT);
    int status = -1;
    for (int i = 0; i < 300 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
        ::usleep(100 * 1000);
    if (status == -1) {
        ::kill(pid, SIGKILL);
        wait_command(pid);
        FAIL() << "ferry did not stop within 30 s of SIGINT";
    }
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(err);
    EXPECT_NE(read_file(err).find("error: interrupted by SIGINT while 'nix-instantiate' was running"),
              std::string::npos)
        << read_file(err);
}

// Without nix-instantiate in PATH: one line naming the program and Debian's package.
TEST_F(EvalTest, MissingNixNamesThePackage) {
    auto r =
        ferry({"build", "t.nix", "-A", "text"}, "/dev/null", {"PATH=" + (tmp.path() / "empty").string()});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("error: 'nix-instantiate' was not found in PATH"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nix-bin"), std::string::npos) << r.err;
}
