// Build logs as Nix 2.8 keeps them: `<state>/log/drvs/xx/<rest>.bz2`, bzip2 (compress-build-log, on by
// default) or plain; `ferry log` streams either; `max-build-log-size` kills a builder that writes too
// much, with Nix's message, and ferry's memory stays flat meanwhile. And the build directories of a
// killed ferry go at the next start-up.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "robust_fixture.hh"

using namespace ferry;
using namespace ferry::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The `.drv` path of the JSON derivation `file` once added to the store of `t`.
std::string add_derivation(RobustTest& t, const std::string& file) {
    auto r = t.ferry({"derivation", "add", file});
    EXPECT_EQ(r.status, 0) << r.err;
    auto lines = lines_of(r.out);
    return lines.empty() ? "" : lines.back();
}

fs::path log_file(const RobustTest& t, const std::string& drv, bool compressed) {
    auto base = fs::path(drv).filename().string();
    return t.config.state_dir() / "log" / "drvs" / base.substr(0, 2) /
           (base.substr(2) + (compressed ? ".bz2" : ""));
}

} // namespace

TEST_F(RobustTest, BuildLogsAreBzip2CompressedAndFerryLogStreamsThem) {
    import_busybox();
    std::string tag = "log-" + std::to_string(::getpid());
    auto file = tagged_derivations(tmp.path() / "drvs", tag, 1,
                                   "for i in $($bb/busybox seq 1 20000); do echo \"log line $i\"; done; "
                                   "echo done > $out")[0];
    auto drv = add_derivation(*this, file);
    auto r = ferry({"realise", drv});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string expected;
    for (int i = 1; i <= 20000; ++i)
        expected += "log line " + std::to_string(i) + "\n";
    auto bz2 = log_file(*this, drv, true);
    ASSERT_TRUE(fs::exists(bz2)) << bz2;
    EXPECT_FALSE(fs::exists(log_file(*this, drv, false)));
    EXPECT_LT(fs::file_size(bz2), expected.size() / 4);
    EXPECT_EQ(shell_output("bzcat '" + bz2.string() + "'").value_or(""), expected) << "bzip2, as Nix writes";
    auto shown = ferry({"log", drv});
    EXPECT_EQ(shown.status, 0) << shown.err;
    EXPECT_TRUE(shown.out == expected);

    // compress-build-log = false: a plain file, which `ferry log` reads too.
    auto plain_file =
        tagged_derivations(tmp.path() / "drvs", tag + "-plain", 1, "echo plain; echo x > $out")[0];
    auto plain_drv = add_derivation(*this, plain_file);
    ASSERT_EQ(ferry({"--option", "compress-build-log", "false", "realise", plain_drv}).status, 0);
    EXPECT_EQ(read_file(log_file(*this, plain_drv, false)), "plain\n");
    EXPECT_EQ(ferry({"log", plain_drv}).out, "plain\n");
}

// A builder writing without end: killed once it has written more than max-build-log-size (1 GB; the log
// plain, for the test's speed: bzip2 takes ~4 minutes a GB here), with Nix 2.8's message and exit
// status 1; ferry's peak memory stays far below the log's size. Compressed, a smaller limit: the
// writer's backlog holds the builder back.
TEST_F(RobustTest, ABuilderWritingAGigabyteOfLogIsStoppedWithMemoryFlat) {
    import_busybox();
    std::string tag = "biglog-" + std::to_string(::getpid());
    auto files =
        tagged_derivations(tmp.path() / "drvs", tag, 2,
                           "$bb/busybox yes 'a line of log output from a builder that writes too much'");
    struct Case {
        std::string file;
        const char* limit;
        const char* compress;
    } cases[] = {{files[0], "1073741824", "false"}, {files[1], "4194304", "true"}};
    for (const auto& c : cases) {
        auto drv = add_derivation(*this, c.file);
        auto started = std::chrono::steady_clock::now();
        auto w = wait_with_usage(
            start("big-" + std::string(c.compress), {"--option", "max-build-log-size", c.limit, "--option",
                                                     "compress-build-log", c.compress, "realise", drv}));
        double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        auto err = err_of("big-" + std::string(c.compress));
        EXPECT_EQ(w.status, 1) << err;
        EXPECT_NE(err.find("building of '" + drv + "!*' from .drv file killed after writing more than " +
                           c.limit + " bytes of log output"),
                  std::string::npos)
            << err;
        auto log = log_file(*this, drv, std::string(c.compress) == "true");
        ASSERT_TRUE(fs::exists(log));
        if (std::string(c.compress) == "false") {
            EXPECT_EQ(fs::file_size(log), std::stoull(c.limit));
        }
        EXPECT_LT(w.max_rss_kib, 120 * 1024) << "ferry's peak memory";
        std::printf("max-build-log-size %s (compress-build-log %s): killed after %.1f s; the log file %ju "
                    "bytes; ferry's peak RSS %.1f MiB\n",
                    c.limit, c.compress, took, uintmax_t(fs::file_size(log)), w.max_rss_kib / 1024.0);
        fs::remove(log);
    }
    for (const auto& l : leftovers(tag))
        ADD_FAILURE() << l;
}

TEST_F(RobustTest, BuildDirectoriesOfAKilledFerryGoAtTheNextStart) {
    import_busybox();
    std::string tag = "builddir-" + std::to_string(::getpid());
    auto files = tagged_derivations(tmp.path() / "drvs", tag, 3, "echo x > $out", "30");
    std::vector<std::string> args{"--option", "max-jobs", "3", "realise"};
    args.insert(args.end(), files.begin(), files.end());
    pid_t pid = start("killed", args);
    // Until the three builders run, then SIGKILL.
    for (int i = 0; i < 3000 && std::distance(fs::directory_iterator(build_tmp), {}) < 3; ++i)
        std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(std::distance(fs::directory_iterator(build_tmp), {}), 3) << "three build directories";
    ::kill(pid, SIGKILL);
    EXPECT_EQ(wait_with_usage(pid).status, 128 + SIGKILL);
    // leftovers() waits for the builders to die with ferry, then opens the store (a start-up).
    for (const auto& l : leftovers(tag))
        ADD_FAILURE() << l;
    EXPECT_EQ(std::distance(fs::directory_iterator(build_tmp), {}), 0)
        << "a start-up removed the dead process's build directories";

    // keep-failed: the build directory of a failed build stays, also through the next start-up.
    auto failing = tagged_derivations(tmp.path() / "drvs", tag + "-fail", 1, "echo kept > file; exit 1")[0];
    auto r = ferry({"--option", "keep-failed", "true", "realise", failing});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("keeping build directory"), std::string::npos) << r.err;
    leftovers("");
    EXPECT_EQ(std::distance(fs::directory_iterator(build_tmp), {}), 1) << "the kept directory stays";
    for (const auto& e : fs::directory_iterator(build_tmp))
        delete_path(e.path());
}
