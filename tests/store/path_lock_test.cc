#include "ferry/store/path_lock.hh"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/util/file.hh"

using namespace ferry;
using namespace std::chrono_literals;

TEST(PathLock, TryFailsWhileHeldAndSucceedsAfterUnlock) {
    TempDir tmp;
    auto file = tmp.path() / "x.lock";
    auto held = PathLock::acquire(file);
    EXPECT_TRUE(held.locked());
    EXPECT_FALSE(PathLock::try_acquire(file).has_value());
    held.unlock();
    EXPECT_FALSE(held.locked());
    EXPECT_FALSE(std::filesystem::exists(file)) << "a released lock's file is deleted";
    auto again = PathLock::try_acquire(file);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(std::filesystem::exists(file));
}

// Nix's protocol: a waiter blocked on the file that the holder deletes gets a stale lock, sees it, and
// locks the path afresh, so it and a newcomer never both hold "the" lock.
TEST(PathLock, AWaiterOnADeletedFileLocksTheNewOne) {
    TempDir tmp;
    auto file = tmp.path() / "x.lock";
    auto held = PathLock::acquire(file);
    std::atomic<bool> acquired{false}, release_waiter{false};
    std::thread waiter([&] {
        auto lock = PathLock::acquire(file);
        acquired = true;
        for (int i = 0; i < 500 && !release_waiter; ++i)
            std::this_thread::sleep_for(10ms);
    });
    std::this_thread::sleep_for(100ms);
    held.unlock();
    for (int i = 0; i < 500 && !acquired; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(acquired.load());
    EXPECT_TRUE(std::filesystem::exists(file)) << "the waiter holds a lock on the file at the path";
    EXPECT_FALSE(PathLock::try_acquire(file).has_value()) << "a newcomer is excluded";
    release_waiter = true;
    waiter.join();
    EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(PathLock, CleanLockFilesDeletesOnlyUnheldOnes) {
    TempDir tmp;
    write_file_atomic(tmp.path() / "dead.lock", "");
    auto held = PathLock::acquire(tmp.path() / "live.lock");
    EXPECT_EQ(clean_lock_files(tmp.path()), 1u);
    EXPECT_FALSE(std::filesystem::exists(tmp.path() / "dead.lock"));
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "live.lock"));
    EXPECT_FALSE(PathLock::try_acquire(tmp.path() / "live.lock").has_value());
}

TEST(PathLock, ExcludesAnotherThreadUntilReleased) {
    TempDir tmp;
    auto file = tmp.path() / "x.lock";
    auto held = PathLock::acquire(file);
    std::atomic<bool> released{false}, acquired{false}, early{false};
    std::thread waiter([&] {
        auto lock = PathLock::acquire(file);
        early = !released.load();
        acquired = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(acquired.load());
    released = true;
    held.unlock();
    waiter.join();
    EXPECT_TRUE(acquired.load());
    EXPECT_FALSE(early.load());
}

TEST(PathLock, ExcludesAnotherProcess) {
    TempDir tmp;
    auto file = tmp.path() / "x.lock";
    int to_parent[2], to_child[2];
    ASSERT_EQ(::pipe(to_parent), 0);
    ASSERT_EQ(::pipe(to_child), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int status = 1;
        try {
            auto lock = PathLock::acquire(file);
            char c = 'l';
            if (::write(to_parent[1], &c, 1) == 1 && ::read(to_child[0], &c, 1) == 1) status = 0;
        } catch (...) {
        }
        ::_exit(status);
    }
    char c;
    ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
    EXPECT_FALSE(PathLock::try_acquire(file).has_value());
    ASSERT_EQ(::write(to_child[1], "x", 1), 1);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_TRUE(PathLock::try_acquire(file).has_value());
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]})
        ::close(fd);
}

TEST(PathLock, AcquireAllTakesEveryLockOnce) {
    TempDir tmp;
    auto a = tmp.path() / "a.lock", b = tmp.path() / "b.lock";
    auto locks = acquire_all({b, a, b});
    EXPECT_EQ(locks.size(), 2u);
    EXPECT_FALSE(PathLock::try_acquire(a).has_value());
    EXPECT_FALSE(PathLock::try_acquire(b).has_value());
    locks.clear();
    EXPECT_TRUE(PathLock::try_acquire(a).has_value());
}
