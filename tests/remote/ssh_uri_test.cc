// The ssh command line of a machine: URI parts, store parameters, NIX_SSHOPTS, key, host key file, port.

#include <cstdlib>

#include <gtest/gtest.h>

#include "ferry/remote/ssh_machine.hh"

namespace ferry {
namespace {

TEST(SshUri, Parts) {
    auto u = parse_ssh_uri("ssh://alice@build1.example:2222");
    EXPECT_EQ(u.host, "alice@build1.example");
    EXPECT_EQ(u.hostname, "build1.example");
    EXPECT_EQ(u.port, "2222");
    EXPECT_EQ(u.remote_program, "nix-store");
    EXPECT_EQ(u.remote_store, "");
    auto v = parse_ssh_uri("ssh://b?remote-program=/opt/bin/ferry%20serve-wrapper&remote-store=/data/store");
    EXPECT_EQ(v.host, "b");
    EXPECT_EQ(v.port, "");
    EXPECT_EQ(v.remote_program, "/opt/bin/ferry serve-wrapper");
    EXPECT_EQ(v.remote_store, "/data/store");
}

TEST(SshUri, Refusals) {
    EXPECT_THROW(parse_ssh_uri("ssh-ng://b"), Error);
    EXPECT_THROW(parse_ssh_uri("ssh://"), Error);
    EXPECT_THROW(parse_ssh_uri("ssh://b:port"), Error);
    try {
        parse_ssh_uri("ssh://b?colour=blue");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "machine URI 'ssh://b?colour=blue': unknown setting 'colour'");
    }
}

TEST(SshUri, CommandLineAsNixBuildsIt) {
    MachineSpec spec;
    spec.uri = "ssh://root@10.0.0.1:2200?remote-store=/srv/my%20store";
    spec.ssh_key = "/keys/id";
    SshOptions options;
    options.extra_args = {"-oConnectTimeout=5", "-v"};
    auto argv = ssh_command(spec, parse_ssh_uri(spec.uri), options, "/tmp/kh");
    std::vector<std::string> expected{"ssh",
                                      "root@10.0.0.1",
                                      "-x",
                                      "-a",
                                      "-oBatchMode=yes",
                                      "-oConnectTimeout=5",
                                      "-v",
                                      "-i",
                                      "/keys/id",
                                      "-oUserKnownHostsFile=/tmp/kh",
                                      "-p",
                                      "2200",
                                      "nix-store --serve --write --store '/srv/my store'"};
    EXPECT_EQ(argv, expected);
    spec.uri = "ssh://h";
    spec.ssh_key.clear();
    argv = ssh_command(spec, parse_ssh_uri(spec.uri), SshOptions{}, "");
    expected = {"ssh", "h", "-x", "-a", "-oBatchMode=yes", "nix-store --serve --write"};
    EXPECT_EQ(argv, expected);
}

TEST(SshUri, NixSshOptsSplitOnWhitespace) {
    ::setenv("NIX_SSHOPTS", "  -p 2222\t-oStrictHostKeyChecking=no\n", 1);
    std::vector<std::string> expected{"-p", "2222", "-oStrictHostKeyChecking=no"};
    EXPECT_EQ(ssh_options_from_env(), expected);
    ::unsetenv("NIX_SSHOPTS");
    EXPECT_TRUE(ssh_options_from_env().empty());
}

} // namespace
} // namespace ferry
