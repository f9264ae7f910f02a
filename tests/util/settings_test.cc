#include "ferry/util/settings.hh"

#include <cstdlib>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "ferry/util/config_files.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

/// Sets (or, with nullopt, unsets) an environment variable for the scope, then restores it.
class ScopedEnv {
public:
    ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value)
            ::setenv(name, value->c_str(), 1);
        else
            ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

/// Every variable that chooses a configuration file, pointed into `dir`.
struct ConfigEnv {
    explicit ConfigEnv(const fs::path& dir)
        : conf_dir("NIX_CONF_DIR", (dir / "etc-nix").string()),
          home("XDG_CONFIG_HOME", (dir / "home").string()),
          dirs("XDG_CONFIG_DIRS", (dir / "xdg1").string() + ":" + (dir / "xdg2").string()),
          user_files("NIX_USER_CONF_FILES", std::nullopt), nix_config("NIX_CONFIG", std::nullopt) {}
    ScopedEnv conf_dir, home, dirs, user_files, nix_config;
};

void write(const fs::path& path, std::string_view text) {
    fs::create_directories(path.parent_path());
    write_file_atomic(path, text);
}

std::string what_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(Settings, DefaultsAreNixs) {
    Settings s;
    EXPECT_EQ(s.http_connections, 150u);
    EXPECT_EQ(s.download_attempts, 5u);
    EXPECT_EQ(s.narinfo_cache_positive_ttl, 30u * 24 * 3600);
    EXPECT_EQ(s.narinfo_cache_negative_ttl, 3600u);
    EXPECT_TRUE(s.require_sigs);
    EXPECT_EQ(s.get("sandbox"), "true");
    EXPECT_EQ(s.origin("sandbox"), "default");
}

TEST(Settings, ConfigThenOptions) {
    Settings s;
    s.apply_config("# a comment\nhttp-connections = 25\n\n  substituters =  http://a http://b  # two\n"
                   "require-sigs = false\nsandbox-paths =\n",
                   "ferry.conf");
    EXPECT_EQ(s.http_connections, 25u);
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://a", "http://b"}));
    EXPECT_FALSE(s.require_sigs);
    EXPECT_TRUE(s.sandbox_paths.empty());
    EXPECT_EQ(s.origin("http-connections"), "ferry.conf:2");
    EXPECT_EQ(s.origin("substituters"), "ferry.conf:4");
    s.set("http-connections", "7", "--option");
    EXPECT_EQ(s.get("http-connections"), "7");
    EXPECT_EQ(s.origin("http-connections"), "--option");
    s.set("max-jobs", "auto");
    EXPECT_GE(s.effective_max_jobs(), 1u);
}

// Nix 2.8's applyConfig: words split on blanks and joined with one space, '#' anywhere, CR as a
// blank, a last line without newline.
TEST(Settings, LinesAreParsedAsNixParsesThem) {
    Settings s;
    s.apply_config("system =   my \t  system   \r\nsandbox-paths = /a#/b\r\n\n   \n# x = y\ncores = 3", "f");
    EXPECT_EQ(s.system, "my system");
    EXPECT_EQ(s.sandbox_paths, (std::vector<std::string>{"/a"}));
    EXPECT_EQ(s.cores, 3u);
    EXPECT_EQ(s.origin("cores"), "f:6");
    s.apply_config("system =\n", "f");
    EXPECT_EQ(s.system, "");
}

TEST(Settings, BooleansAsNix) {
    Settings s;
    for (auto [text, value] : std::vector<std::pair<const char*, bool>>{
             {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"1", true}, {"0", false}}) {
        s.set("fallback", text);
        EXPECT_EQ(s.fallback, value) << text;
    }
    for (const char* bad : {"True", "on", "2", ""})
        EXPECT_THROW(s.set("fallback", bad), UsageError) << bad;
}

TEST(Settings, ErrorsNameTheFileAndLine) {
    Settings s;
    EXPECT_EQ(what_of([&] { s.apply_config("cores = 2\nhttp-connections = many\n", "/etc/ferry.conf"); }),
              "/etc/ferry.conf:2: option 'http-connections' must be a non-negative integer, not 'many'");
    EXPECT_EQ(what_of([&] { s.apply_config("\nrequire-sigs = maybe\n", "NIX_CONFIG"); }),
              "NIX_CONFIG:2: option 'require-sigs' must be true or false, not 'maybe'");
    EXPECT_EQ(what_of([&] { s.apply_config("just words\n", "x"); }),
              "x:1: illegal configuration line 'just words'");
    // As in Nix, '=' is a word of its own.
    EXPECT_EQ(what_of([&] { s.apply_config("a=b\n", "x"); }), "x:1: illegal configuration line 'a=b'");
    EXPECT_EQ(what_of([&] { s.apply_config("a =b\n", "x"); }), "x:1: illegal configuration line 'a =b'");
    EXPECT_EQ(what_of([&] { s.apply_config("include\n", "x"); }),
              "x:1: illegal configuration line 'include'");
    EXPECT_EQ(what_of([&] { s.apply_config("include a b\n", "x"); }),
              "x:1: illegal configuration line 'include a b'");
    EXPECT_THROW(s.apply_config("sandbox = perhaps\n", "x"), ConfigError);
    // The command line's errors stay usage errors.
    EXPECT_THROW(s.set("no-such-option", "1"), UsageError);
    EXPECT_THROW(s.set("require-sigs", "maybe"), UsageError);
    EXPECT_THROW(s.set("sandbox", "perhaps"), UsageError);
    EXPECT_EQ(s.cores, 2u) << "the lines before a bad one were applied";
    EXPECT_EQ(s.origin("require-sigs"), "default") << "a value refused leaves no origin";
}

TEST(Settings, UnknownSettingsAreSkippedAndListed) {
    Settings s;
    s.apply_config("trusted-users = root\ncores = 4\nexperimental-features = nix-command flakes\n"
                   "extra-max-jobs = 3\nextra-no-such-thing = x\n",
                   "nix.conf");
    EXPECT_EQ(s.cores, 4u);
    ASSERT_EQ(s.ignored.size(), 4u);
    EXPECT_EQ(s.ignored[0].name, "trusted-users");
    EXPECT_EQ(s.ignored[0].where, "nix.conf:1");
    EXPECT_EQ(s.ignored[1].name, "experimental-features");
    EXPECT_EQ(s.ignored[2].name, "extra-max-jobs") << "extra- goes with list settings only, as in Nix";
    EXPECT_EQ(s.ignored[3].where, "nix.conf:5");
    EXPECT_FALSE(Settings::known("extra-max-jobs"));
    EXPECT_TRUE(Settings::known("extra-substituters"));
}

TEST(Settings, ExtraAppendsToLists) {
    Settings s;
    s.apply_config("substituters = http://a\nextra-substituters = http://b http://c\n"
                   "extra-trusted-public-keys = k:1\nextra-sandbox-paths = /x\n",
                   "nix.conf");
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://a", "http://b", "http://c"}));
    EXPECT_EQ(s.trusted_public_keys, (std::vector<std::string>{"k:1"}));
    EXPECT_EQ(s.sandbox_paths, (std::vector<std::string>{"/x"}));
    EXPECT_EQ(s.origin("substituters"), "nix.conf:1, nix.conf:2");
    EXPECT_EQ(s.origin("trusted-public-keys"), "default, nix.conf:3");
    s.set("extra-substituters", "http://d", "--extra-substituters");
    EXPECT_EQ(s.get("substituters"), "http://a http://b http://c http://d");
    // A later plain setting replaces everything appended before.
    s.apply_config("substituters = http://e\n", "ferry.conf");
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://e"}));
    EXPECT_EQ(s.origin("substituters"), "ferry.conf:1");
    EXPECT_EQ(Settings::kind("extra-substituters"), SettingKind::list);
    EXPECT_EQ(Settings::kind("sandbox"), SettingKind::text);
    EXPECT_EQ(Settings::kind("fallback"), SettingKind::boolean);
    EXPECT_EQ(Settings::kind("max-jobs"), SettingKind::number);
}

TEST(Settings, NixsOldNamesAreAliases) {
    Settings s;
    s.apply_config("binary-caches = http://old\nextra-binary-caches = http://more\nbuild-max-jobs = 3\n"
                   "build-use-sandbox = false\nbinary-cache-public-keys = k:1\n",
                   "nix.conf");
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://old", "http://more"}));
    EXPECT_EQ(s.max_jobs, 3u);
    EXPECT_EQ(s.sandbox, "false");
    EXPECT_EQ(s.trusted_public_keys, (std::vector<std::string>{"k:1"}));
    EXPECT_EQ(s.origin("build-max-jobs"), "nix.conf:3");
    EXPECT_TRUE(s.ignored.empty());
}

TEST(Settings, IncludesAreRelativeToTheIncludingFile) {
    TempDir tmp;
    write(tmp.path() / "nix.conf", "cores = 1\ninclude sub/more.conf\n!include missing.conf\ntimeout = 9\n");
    write(tmp.path() / "sub" / "more.conf", "cores = 2\n!include ../last.conf\n");
    write(tmp.path() / "last.conf", "max-silent-time = 7\n");
    Settings s;
    EXPECT_TRUE(s.apply_config_file(tmp.path() / "nix.conf"));
    EXPECT_EQ(s.cores, 2u);
    EXPECT_EQ(s.max_silent_time, 7u);
    EXPECT_EQ(s.timeout, 9u);
    EXPECT_EQ(s.origin("cores"), (tmp.path() / "sub" / "more.conf").string() + ":1");
    EXPECT_EQ(s.origin("max-silent-time"), (tmp.path() / "sub" / ".." / "last.conf").string() + ":1");
    ASSERT_EQ(s.files_read.size(), 3u);
    EXPECT_EQ(s.files_read[0], tmp.path() / "nix.conf");

    // A plain include of a missing file is an error naming the line; a cycle ends with an error too.
    write(tmp.path() / "bad.conf", "\ninclude nowhere.conf\n");
    EXPECT_EQ(what_of([&] { s.apply_config_file(tmp.path() / "bad.conf"); }),
              fmt::format("{}:2: included file '{}' not found", (tmp.path() / "bad.conf").string(),
                          (tmp.path() / "nowhere.conf").string()));
    write(tmp.path() / "loop.conf", "include loop.conf\n");
    EXPECT_THROW(s.apply_config_file(tmp.path() / "loop.conf"), ConfigError);
    // Files that cannot be read are skipped, as Nix skips them.
    EXPECT_FALSE(s.apply_config_file(tmp.path() / "absent.conf"));
    EXPECT_FALSE(s.apply_config_file(tmp.path() / "sub"));
}

TEST(Settings, NixsFilesInNixsOrder) {
    TempDir tmp;
    ConfigEnv env(tmp.path());
    auto t = tmp.path();
    EXPECT_EQ(nix_config_files(),
              (std::vector<fs::path>{t / "etc-nix" / "nix.conf", t / "xdg2" / "nix" / "nix.conf",
                                     t / "xdg1" / "nix" / "nix.conf", t / "home" / "nix" / "nix.conf"}));
    {
        ScopedEnv files("NIX_USER_CONF_FILES", (t / "a.conf").string() + "::" + (t / "b.conf").string());
        EXPECT_EQ(nix_config_files(),
                  (std::vector<fs::path>{t / "etc-nix" / "nix.conf", t / "b.conf", t / "a.conf"}));
    }
    {
        ScopedEnv no_conf_dir("NIX_CONF_DIR", std::nullopt);
        ScopedEnv no_dirs("XDG_CONFIG_DIRS", std::nullopt);
        auto files = nix_config_files();
        EXPECT_EQ(files.front(), "/etc/nix/nix.conf");
        EXPECT_EQ(files[1], "/etc/xdg/nix/nix.conf");
    }
}

// Every source sets `cores` (and one setting of its own): each later one wins.
TEST(Settings, SourcesInPrecedenceOrder) {
    TempDir tmp;
    ConfigEnv env(tmp.path());
    auto t = tmp.path();
    write(t / "etc-nix" / "nix.conf", "cores = 1\ntimeout = 11\nsubstituters = http://system\n");
    write(t / "xdg2" / "nix" / "nix.conf", "cores = 2\nmax-silent-time = 12\n");
    write(t / "xdg1" / "nix" / "nix.conf", "cores = 3\nhttp-connections = 13\n");
    write(t / "home" / "nix" / "nix.conf",
          "cores = 4\ndownload-attempts = 14\nextra-substituters = http://user\n");
    write(t / "home" / "ferry" / "ferry.conf", "cores = 6\nretry-base-delay-ms = 16\n");
    ScopedEnv nix_config("NIX_CONFIG", "cores = 5\nconnect-timeout = 15");
    Settings s;
    s.load_default_config();
    EXPECT_EQ(s.cores, 6u);
    EXPECT_EQ(s.origin("cores"), (t / "home" / "ferry" / "ferry.conf").string() + ":1");
    EXPECT_EQ(s.timeout, 11u);
    EXPECT_EQ(s.max_silent_time, 12u);
    EXPECT_EQ(s.http_connections, 13u);
    EXPECT_EQ(s.download_attempts, 14u);
    EXPECT_EQ(s.connect_timeout, 15u);
    EXPECT_EQ(s.origin("connect-timeout"), "NIX_CONFIG:2");
    EXPECT_EQ(s.retry_base_delay_ms, 16u);
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"http://system", "http://user"}));
    EXPECT_EQ(s.files_read.size(), 5u);

    Settings without_ferry_conf;
    fs::remove(t / "home" / "ferry" / "ferry.conf");
    without_ferry_conf.load_default_config();
    EXPECT_EQ(without_ferry_conf.cores, 5u);
    Settings without_nix_config;
    ScopedEnv no_nix_config("NIX_CONFIG", std::nullopt);
    without_nix_config.load_default_config();
    EXPECT_EQ(without_nix_config.cores, 4u);
}

// Nix 2.8's own `nix show-config` as a nix.conf: ferry takes what it knows and skips the rest.
TEST(Settings, ARealWorldNixConf) {
    auto file = ferry::test::test_data_dir() / "config" / "nix-2.8-show-config.conf";
    Settings s;
    ASSERT_TRUE(s.apply_config_file(file));
    EXPECT_EQ(s.http_connections, 25u);
    EXPECT_EQ(s.substituters, (std::vector<std::string>{"https://cache.nixos.org/"}));
    EXPECT_EQ(s.trusted_public_keys,
              (std::vector<std::string>{"cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="}));
    EXPECT_EQ(s.max_jobs, 1u);
    bool found = false;
    for (const auto& i : s.ignored) {
        EXPECT_FALSE(Settings::known(i.name)) << i.name;
        found = found || i.name == "trusted-users";
    }
    EXPECT_TRUE(found);
    EXPECT_GT(s.ignored.size(), 40u);
}

// max-jobs as in Nix: 0 builds nothing locally (remote machines only), `auto` is the number of cores,
// which stays ferry's default; show-config prints `auto` for it.
TEST(Settings, MaxJobsZeroAndAuto) {
    Settings s;
    EXPECT_FALSE(s.max_jobs.has_value());
    EXPECT_EQ(s.get("max-jobs"), "auto");
    EXPECT_GE(s.effective_max_jobs(), 1u);
    s.set("max-jobs", "0");
    EXPECT_EQ(s.effective_max_jobs(), 0u);
    EXPECT_EQ(s.get("max-jobs"), "0");
    s.set("max-jobs", "auto");
    EXPECT_EQ(s.get("max-jobs"), "auto");
    EXPECT_EQ(s.effective_max_jobs(), std::max(1u, std::thread::hardware_concurrency()));
    s.apply_config("build-max-jobs = 5\n", "nix.conf");
    EXPECT_EQ(s.get("max-jobs"), "5");
    EXPECT_THROW(s.set("max-jobs", "many"), UsageError);
}

// The remote machines: `builders` (Nix's default: the machines file in NIX_CONF_DIR, /etc/nix) and
// `builders-use-substitutes`.
TEST(Settings, Builders) {
    {
        ScopedEnv none("NIX_CONF_DIR", std::nullopt);
        EXPECT_EQ(Settings{}.builders, "@/etc/nix/machines");
    }
    ScopedEnv conf("NIX_CONF_DIR", "/my/conf");
    Settings s;
    EXPECT_EQ(s.builders, "@/my/conf/machines");
    EXPECT_FALSE(s.builders_use_substitutes);
    s.apply_config("builders = ssh://a x86_64-linux ; ssh://b\nbuilders-use-substitutes = true\n",
                   "nix.conf");
    EXPECT_EQ(s.builders, "ssh://a x86_64-linux ; ssh://b");
    EXPECT_TRUE(s.builders_use_substitutes);
    EXPECT_EQ(Settings::kind("builders"), SettingKind::text);
    EXPECT_EQ(Settings::kind("builders-use-substitutes"), SettingKind::boolean);
}
