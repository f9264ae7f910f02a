// The machines syntax of Nix 2.8 (src/libstore/machines.cc): every field and its default, `;` and
// newlines, comments, `@FILE` includes, and errors that name the line.

#include <gtest/gtest.h>

#include "ferry/remote/machine_file.hh"
#include "ferry/util/encoding.hh"
#include "ferry/util/file.hh"

using namespace ferry;

namespace {

std::string error_of(std::string_view text, std::string_view source = "builders") {
    try {
        parse_machines(text, "x86_64-linux", source);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST(MachineFile, EveryField) {
    // "ssh-ed25519 AAAA…" base64-encoded, as Nix's docs show it.
    std::string key = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUpkTkRUSzRGTjFlUlRyN0FMZ0RNSk9OdWJPcH"
                      "NPdk9VdWY3VTBtbTdwOU0=";
    auto m = parse_machines("ssh://root@builder:2222?remote-program=/bin/nix-store aarch64-linux,i686-linux "
                            "/root/.ssh/id  8 4 kvm,big-parallel benchmark " +
                                key,
                            "x86_64-linux");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].uri, "ssh://root@builder:2222?remote-program=/bin/nix-store");
    EXPECT_EQ(m[0].systems, (std::vector<std::string>{"aarch64-linux", "i686-linux"}));
    EXPECT_EQ(m[0].ssh_key, "/root/.ssh/id");
    EXPECT_EQ(m[0].max_jobs, 8u);
    EXPECT_EQ(m[0].speed_factor, 4.0);
    EXPECT_EQ(m[0].supported_features, (std::set<std::string>{"big-parallel", "kvm"}));
    EXPECT_EQ(m[0].mandatory_features, (std::set<std::string>{"benchmark"}));
    EXPECT_EQ(m[0].public_host_key, key);
}

TEST(MachineFile, DefaultsForDashesAndMissingFields) {
    auto m = parse_machines("host - - - - - -\nuser@other", "x86_64-linux");
    ASSERT_EQ(m.size(), 2u);
    for (const auto& spec : m) {
        EXPECT_EQ(spec.systems, std::vector<std::string>{"x86_64-linux"}) << "the local system";
        EXPECT_EQ(spec.ssh_key, "");
        EXPECT_EQ(spec.max_jobs, 1u);
        EXPECT_EQ(spec.speed_factor, 1.0);
        EXPECT_TRUE(spec.supported_features.empty());
        EXPECT_TRUE(spec.mandatory_features.empty());
        EXPECT_EQ(spec.public_host_key, "");
    }
    EXPECT_EQ(m[0].uri, "ssh://host") << "ssh:// added to a bare host";
    EXPECT_EQ(m[1].uri, "ssh://user@other");
    auto zero = parse_machines("ssh://a x86_64-linux - 0 0", "x86_64-linux");
    EXPECT_EQ(zero[0].max_jobs, 0u) << "0 jobs is a value, not the default";
    EXPECT_EQ(zero[0].speed_factor, 1.0) << "as Nix: a speed factor is at least 1";
}

TEST(MachineFile, SemicolonsNewlinesBlanksAndComments) {
    auto m = parse_machines("# the farm\n  a x86_64-linux ; b aarch64-linux # fast one; c\n\n\t\r\n"
                            "d # e\n;;#only a comment\n",
                            "x86_64-linux");
    std::vector<std::string> uris;
    for (const auto& s : m)
        uris.push_back(s.uri);
    // As Nix: a `#` ends its `;`-separated piece only, so `c` after "# fast one;" is a machine.
    EXPECT_EQ(uris, (std::vector<std::string>{"ssh://a", "ssh://b", "ssh://c", "ssh://d"}));
    EXPECT_EQ(m[1].systems, std::vector<std::string>{"aarch64-linux"});
    EXPECT_TRUE(parse_machines("", "x86_64-linux").empty());
    EXPECT_TRUE(parse_machines(" ;\n # nothing\n", "x86_64-linux").empty());
}

TEST(MachineFile, IncludedFiles) {
    TempDir dir;
    auto inner = dir.path() / "inner";
    auto outer = dir.path() / "machines";
    write_file_atomic(inner, "c - - 3\n");
    write_file_atomic(outer, "a\n@" + inner.string() + "  \nb;@" + (dir.path() / "missing").string() + "\n");
    auto m = parse_machines("first;@" + outer.string() + "\nlast", "x86_64-linux");
    std::vector<std::string> uris;
    for (const auto& s : m)
        uris.push_back(s.uri);
    EXPECT_EQ(uris, (std::vector<std::string>{"ssh://first", "ssh://a", "ssh://c", "ssh://b", "ssh://last"}))
        << "in place, a missing file holding no machines";
    EXPECT_EQ(m[2].max_jobs, 3u);
    EXPECT_TRUE(parse_machines("@/nonexistent/etc/nix/machines", "x86_64-linux").empty())
        << "the default builders, without the file";

    write_file_atomic(inner, "ok\nbad - - many\n");
    EXPECT_EQ(error_of("@" + inner.string()),
              inner.string() + ":2: bad machine specification: failed to convert column #3 in a row: "
                               "'bad - - many' to 'unsigned int'")
        << "an error in an included file names that file";
    write_file_atomic(inner, "@" + inner.string());
    EXPECT_NE(error_of("@" + inner.string()).find("nested more than 16 includes deep"), std::string::npos);
}

TEST(MachineFile, ErrorsNameTheLine) {
    EXPECT_EQ(error_of("a\nb x86_64-linux - 2 fast"),
              "builders:2: bad machine specification: failed to convert column #4 in a row: "
              "'b x86_64-linux - 2 fast' to 'unsigned int'");
    EXPECT_EQ(error_of("a - - -1"), "builders:1: bad machine specification: failed to convert column #3 in "
                                    "a row: 'a - - -1' to 'unsigned int'");
    EXPECT_EQ(
        error_of("a - - - - - - not*base64", "/etc/nix/machines"),
        "/etc/nix/machines:1: bad machine specification: a column #7 in a row: 'a - - - - - - "
        "not*base64' is not valid base64 string: " +
            [] {
                try {
                    base64_decode("not*base64");
                } catch (const Error& e) {
                    return std::string(e.what());
                }
                return std::string();
            }());
    EXPECT_EQ(error_of("- x86_64-linux"), "builders:1: bad machine specification: store URL was not found at "
                                          "the first column of a row: '- x86_64-linux'");
}

TEST(MachineFile, OnlySshMachines) {
    EXPECT_EQ(
        error_of("ok; ssh-ng://builder x86_64-linux"),
        "builders:1: machine 'ssh-ng://builder': the ssh-ng:// protocol is not supported yet (use ssh://)");
    EXPECT_EQ(error_of("\n\nlocal"),
              "builders:3: machine 'local': only ssh:// machines are supported, not other kinds of store");
    EXPECT_NE(error_of("/some/store").find("only ssh:// machines"), std::string::npos);
    EXPECT_NE(error_of("https://cache").find("only ssh:// machines"), std::string::npos);
}
