#include "ferry/store/canonicalise.hh"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ferry/util/error.hh"
#include "ferry/util/file.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

struct stat lstat_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
}

void make_file(const fs::path& p, mode_t mode) {
    write_file_atomic(p, "data");
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

} // namespace

TEST(Canonicalise, ModesTimesAndSpecialBits) {
    TempDir tmp;
    fs::path t = tmp.path() / "tree";
    fs::create_directories(t / "sub" / "deeper");
    make_file(t / "plain", 0644);
    make_file(t / "exec", 0700);
    make_file(t / "group-exec", 0610);
    make_file(t / "setuid", 04755);
    make_file(t / "setgid", 02711);
    make_file(t / "sub" / "deeper" / "f", 0600);
    ASSERT_EQ(::chmod((t / "sub").c_str(), 01777), 0);
    fs::create_symlink("plain", t / "link");
    fs::create_symlink("/nonexistent", t / "dangling");

    canonicalise_path(t);

    EXPECT_EQ(lstat_of(t / "plain").st_mode & 07777, 0444u);
    EXPECT_EQ(lstat_of(t / "exec").st_mode & 07777, 0555u);
    EXPECT_EQ(lstat_of(t / "group-exec").st_mode & 07777, 0555u);
    EXPECT_EQ(lstat_of(t / "setuid").st_mode & 07777, 0555u);
    EXPECT_EQ(lstat_of(t / "setgid").st_mode & 07777, 0555u);
    EXPECT_EQ(lstat_of(t / "sub" / "deeper" / "f").st_mode & 07777, 0444u);
    for (auto d : {t, t / "sub", t / "sub" / "deeper"})
        EXPECT_EQ(lstat_of(d).st_mode & 07777, 0555u) << d;
    for (auto p : {t, t / "plain", t / "exec", t / "sub", t / "sub" / "deeper", t / "sub" / "deeper" / "f",
                   t / "link", t / "dangling"}) {
        auto st = lstat_of(p);
        EXPECT_EQ(st.st_mtim.tv_sec, 1) << p;
        EXPECT_EQ(st.st_mtim.tv_nsec, 0) << p;
    }
    EXPECT_TRUE(S_ISLNK(lstat_of(t / "link").st_mode));
    EXPECT_EQ(fs::read_symlink(t / "dangling"), "/nonexistent");
}

TEST(Canonicalise, SingleFileAndSymlinkRoots) {
    TempDir tmp;
    make_file(tmp.path() / "f", 0664);
    canonicalise_path(tmp.path() / "f");
    EXPECT_EQ(lstat_of(tmp.path() / "f").st_mode & 07777, 0444u);
    EXPECT_EQ(lstat_of(tmp.path() / "f").st_mtim.tv_sec, 1);
    fs::create_symlink("f", tmp.path() / "l");
    canonicalise_path(tmp.path() / "l");
    EXPECT_EQ(lstat_of(tmp.path() / "l").st_mtim.tv_sec, 1);
    // The symlink's target was not touched through it a second time.
    EXPECT_EQ(lstat_of(tmp.path() / "f").st_mode & 07777, 0444u);
}

TEST(Canonicalise, RefusesOtherFileTypes) {
    TempDir tmp;
    fs::create_directories(tmp.path() / "t");
    ASSERT_EQ(::mkfifo((tmp.path() / "t" / "fifo").c_str(), 0644), 0);
    try {
        canonicalise_path(tmp.path() / "t");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("fifo"), std::string::npos) << e.what();
    }
}

TEST(Canonicalise, RemovesUserExtendedAttributes) {
    TempDir tmp;
    fs::path f = tmp.path() / "f";
    make_file(f, 0644);
    if (::setxattr(f.c_str(), "user.ferry-test", "x", 1, 0) != 0)
        GTEST_SKIP() << "the file system of " << tmp.path() << " has no user extended attributes";
    canonicalise_path(f);
    char buf[8];
    EXPECT_EQ(::getxattr(f.c_str(), "user.ferry-test", buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENODATA);
}

TEST(Canonicalise, AsRootWhatABuildUserMadeBecomesTheStoreOwners) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root can give files away";
    TempDir tmp;
    fs::path t = tmp.path() / "tree";
    fs::create_directories(t / "sub");
    make_file(t / "sub" / "f", 04755);
    fs::create_symlink("sub/f", t / "link");
    constexpr uid_t kBuildUid = 872415232;
    for (const auto& p : {t, t / "sub", t / "sub" / "f", t / "link"})
        ASSERT_EQ(::lchown(p.c_str(), kBuildUid, kBuildUid), 0) << p;
    canonicalise_path(t);
    for (const auto& p : {t, t / "sub", t / "sub" / "f", t / "link"}) {
        auto st = lstat_of(p);
        EXPECT_EQ(st.st_uid, ::geteuid()) << p;
        EXPECT_EQ(st.st_gid, ::getegid()) << p;
    }
    EXPECT_EQ(lstat_of(t / "sub" / "f").st_mode & 07777, 0555u) << "no setuid bit survives the chown";
}
