// Two processes (fork) and several threads working on one store at once.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/store/local_store.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;

namespace {

constexpr int kRounds = 15;

// What each worker does: the same paths as every other worker, and some of its own.
void work(LocalStore& store, int worker, const std::vector<nlohmann::json>& nars) {
    for (int i = 0; i < kRounds; ++i) {
        auto shared = store.add_text("shared-" + std::to_string(i), "shared " + std::to_string(i), {});
        store.add_text("own-" + std::to_string(worker) + "-" + std::to_string(i), "mine", {shared});
        if (size_t(i) < nars.size()) {
            UniqueFd fd(::open(compat_nar(nars[i]).c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd) throw std::runtime_error("cannot open a fixture NAR");
            store.import_nar(fd.get(), to_path_info(store.store_dir(), nars[i]));
        }
    }
}

void check_result(const TempStore& s, int workers, const std::vector<nlohmann::json>& nars) {
    LocalStore& store = *s.store;
    size_t expected_paths = 0;
    for (int i = 0; i < kRounds; ++i) {
        auto shared = store.store_dir().make_text_path("shared-" + std::to_string(i),
                                                       "shared " + std::to_string(i), {});
        EXPECT_EQ(read_file(store.real_path(shared)), "shared " + std::to_string(i));
        EXPECT_TRUE(store.is_valid_path(shared));
        ++expected_paths;
        for (int w = 0; w < workers; ++w) {
            auto own = store.store_dir().make_text_path("own-" + std::to_string(w) + "-" + std::to_string(i),
                                                        "mine", {shared});
            EXPECT_EQ(store.require_path_info(own).references, StorePathSet{shared});
            ++expected_paths;
        }
    }
    for (size_t i = 0; i < nars.size() && i < size_t(kRounds); ++i) {
        auto expected = to_path_info(store.store_dir(), nars[i]);
        EXPECT_EQ(store.require_path_info(expected.path).nar_hash, expected.nar_hash);
        ++expected_paths;
    }
    EXPECT_EQ(s.store_entries().size(), expected_paths);
    EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
}

} // namespace

TEST(StoreConcurrency, TwoProcessesOnOneStore) {
    TempStore s;
    // The workers create the store at a fresh root at the same moment; the parent opens it afterwards.
    StoreConfig fresh = s.config;
    fresh.root = s.dir.path() / "fresh";
    auto nars = in_reference_order(compat_path_infos());
    constexpr int kWorkers = 2;
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    std::vector<pid_t> children;
    for (int w = 0; w < kWorkers; ++w) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int status = 0;
            try {
                ::close(go[1]);
                char c;
                if (::read(go[0], &c, 1) != 0) throw std::runtime_error("bad start signal");
                LocalStore store(fresh);
                work(store, w, nars);
            } catch (const std::exception& e) {
                std::cerr << "worker " << w << ": " << e.what() << "\n";
                status = 1;
            }
            ::_exit(status);
        }
        children.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]); // both children start now
    for (pid_t pid : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a worker process failed";
    }
    s.config = fresh;
    s.store = std::make_unique<LocalStore>(fresh);
    check_result(s, kWorkers, nars);
}

TEST(StoreConcurrency, ThreadsSharingOneLocalStore) {
    TempStore s;
    auto nars = in_reference_order(compat_path_infos());
    constexpr int kWorkers = 3;
    std::vector<std::thread> threads;
    std::vector<std::string> errors(kWorkers);
    for (int w = 0; w < kWorkers; ++w)
        threads.emplace_back([&, w] {
            try {
                work(*s.store, w, nars);
            } catch (const std::exception& e) {
                errors[w] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    for (const auto& e : errors)
        EXPECT_EQ(e, "");
    check_result(s, kWorkers, nars);
}

TEST(StoreConcurrency, AProcessKilledMidImportLeavesNoTrace) {
    TempStore s;
    auto infos = compat_path_infos();
    nlohmann::json tree;
    for (const auto& e : infos)
        if (e["path"].get<std::string>().ends_with("-dir-tree")) tree = e;
    std::string nar = read_file(compat_nar(tree));
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        LocalStore store(s.config);
        size_t pos = 0;
        // Feeds half of the NAR, then dies the hardest way, in the middle of unpacking.
        store.import_nar(
            [&](std::span<char> buf) -> size_t {
                if (pos >= nar.size() / 2) ::kill(::getpid(), SIGKILL);
                size_t n = std::min<size_t>({buf.size(), 512, nar.size() - pos});
                std::copy_n(nar.data() + pos, n, buf.data());
                pos += n;
                return n;
            },
            to_path_info(store.store_dir(), tree));
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_EQ(s.staging_leftovers().size(), 1u) << "the dead process's staging directory";
    auto reopened = s.open_again(); // cleans abandoned staging
    auto path = to_path_info(s.store->store_dir(), tree).path;
    EXPECT_FALSE(reopened->is_valid_path(path));
    EXPECT_EQ(s.staging_leftovers(), std::vector<std::string>{});
    EXPECT_EQ(s.store_entries(), std::vector<std::string>{});
    // The path lock died with the process: the import can be done now.
    reopened->import_nar(
        [&, pos = size_t(0)](std::span<char> buf) mutable {
            size_t n = std::min(buf.size(), nar.size() - pos);
            std::copy_n(nar.data() + pos, n, buf.data());
            pos += n;
            return n;
        },
        to_path_info(s.store->store_dir(), tree));
    EXPECT_TRUE(reopened->is_valid_path(path));
}
