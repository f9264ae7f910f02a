// Bit for bit with Nix 2.8: every derivation of the compat fixtures, built in the sandbox into an empty
// store (busybox imported from its NAR, builtins.toFile texts added), gives the NAR hash, size and
// references Nix recorded in path-info.json. And the probe shows the same things under ferry and under
// Debian's Nix, when it is installed.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/sched/build_outputs.hh"
#include "ferry/store/derivation_hash.hh"
#include "ferry/store/derivation_store.hh"
#include "sandbox_fixture.hh"
#include "support/ferry_process.hh"
#include "support/fixtures.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

struct CompatDrv {
    StorePath path;
    Derivation drv;
};

std::map<StorePath, CompatDrv> load_compat_derivations(const StoreDir& dir) {
    std::map<StorePath, CompatDrv> out;
    for (const auto& entry : fs::directory_iterator(compat_dir() / "drv")) {
        StorePath path(entry.path().filename().string());
        auto name = std::string(path.name());
        name.resize(name.size() - 4); // ".drv"
        auto drv = parse_derivation(dir, read_file(entry.path()), name);
        EXPECT_EQ(derivation_store_path(dir, drv), path);
        out.emplace(path, CompatDrv{path, std::move(drv)});
    }
    return out;
}

/// The paths a build of `drv` may read: its input sources and the wanted outputs of its input
/// derivations, with everything they refer to.
StorePathSet input_closure(LocalStore& store, const Derivation& drv,
                           const std::map<StorePath, CompatDrv>& drvs) {
    StorePathSet roots = drv.input_srcs;
    for (const auto& [drv_path, wanted] : drv.input_drvs)
        for (const auto& output : wanted)
            roots.insert(drvs.at(drv_path).drv.output_path(store.store_dir(), output));
    return store.compute_closure(roots);
}

/// Builds `drv` in the sandbox and registers its outputs.
void build_and_register(LocalStore& store, const CompatDrv& compat, const StorePathSet& closure,
                        const fs::path& scratch) {
    auto job = store_job(store, compat.path, compat.drv, closure, scratch);
    std::string log;
    job.log = [&](std::string_view chunk) { log.append(chunk); };
    SandboxBuilder builder;
    auto built = run_build(builder, job);
    register_build_outputs(store, compat.path, compat.drv, job.outputs, *built, closure);
}

/// Builds every derivation once all its input derivations are built (the simple way; the real
/// scheduler lives elsewhere).
void build_in_dependency_order(LocalStore& store, const std::map<StorePath, CompatDrv>& drvs,
                               const fs::path& scratch) {
    std::set<StorePath> built;
    while (built.size() < drvs.size()) {
        size_t before = built.size();
        for (const auto& [path, compat] : drvs) {
            if (built.count(path)) continue;
            bool ready = true;
            for (const auto& [input, _] : compat.drv.input_drvs)
                ready = ready && built.count(input);
            if (!ready) continue;
            SCOPED_TRACE(store.print(path));
            ASSERT_NO_THROW(
                build_and_register(store, compat, input_closure(store, compat.drv, drvs), scratch));
            built.insert(path);
        }
        ASSERT_GT(built.size(), before) << "a cycle among the fixture derivations";
    }
}

/// The valid `out` has the NAR hash, size, references and content address of Nix's path-info entry.
void expect_as_nix_recorded(LocalStore& store, const StorePath& out, const nlohmann::json& nix) {
    auto info = store.query_path_info(out);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->nar_hash.to_string(HashFormat::sri), nix["narHash"].get<std::string>());
    EXPECT_EQ(info->nar_size, nix["narSize"].get<uint64_t>());
    std::set<std::string> refs;
    for (const auto& r : info->references)
        refs.insert(store.print(r));
    EXPECT_EQ(refs, nix["references"].get<std::set<std::string>>());
    EXPECT_EQ(info->ca, nix.contains("ca") ? std::optional(nix["ca"].get<std::string>()) : std::nullopt);
}

} // namespace

TEST(NixCompat, EveryFixtureDerivationBuildsBitForBit) {
    TempStore store;
    const auto& dir = store->store_dir();
    std::map<std::string, nlohmann::json> expected;
    for (const auto& info : compat_path_infos())
        expected[info["path"].get<std::string>()] = info;

    // A non-root user can add a (read-only, canonical) directory: StagedPath::commit makes it writable
    // for the rename.
    if (::geteuid() != 0)
        store->add_to_store(make_busybox_tree(store.dir.path()), FileIngestionMethod::recursive,
                            "busybox-static");
    // The inputs Nix did not build: busybox (builtins.path, from its NAR) and builtins.toFile's text.
    auto busybox = expected.at(std::string("/nix/store/") + kBusyboxBase);
    UniqueFd nar(::open(compat_nar(busybox).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(nar);
    store->import_nar(nar.get(), to_path_info(dir, busybox));
    EXPECT_EQ(dir.print(store->add_text("plain.txt", "a text file made by toFile\n", {})),
              "/nix/store/avzmmwh1yxkpjpzz72wnjj8xs950dsbv-plain.txt");

    auto drvs = load_compat_derivations(dir);
    ASSERT_EQ(drvs.size(), 11u);
    std::vector<Derivation> to_add;
    for (const auto& [_, compat] : drvs)
        to_add.push_back(compat.drv);
    auto added = add_derivations(*store.store, to_add);
    EXPECT_EQ(std::set<StorePath>(added.begin(), added.end()).size(), 11u);
    for (const auto& path : added)
        EXPECT_TRUE(drvs.count(path)) << path.to_string();
    TempDir scratch(store->config().real_store_dir().parent_path(), "scratch");
    build_in_dependency_order(*store.store, drvs, scratch.path());
    if (HasFatalFailure()) return;

    size_t compared = 0;
    for (const auto& [path, compat] : drvs)
        for (const auto& [name, _] : compat.drv.outputs) {
            auto out = compat.drv.output_path(dir, name);
            SCOPED_TRACE(dir.print(out));
            expect_as_nix_recorded(*store.store, out, expected.at(dir.print(out)));
            ++compared;
        }
    EXPECT_EQ(compared, 13u);
    for (const auto& entry : fs::directory_iterator(scratch.path()))
        EXPECT_TRUE(is_staging_lock(entry.path().filename().string()))
            << "builds left scratch space behind: " << entry.path();
}

namespace {

std::map<std::string, std::string> files_in(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& entry : fs::directory_iterator(dir))
        out[entry.path().filename().string()] = read_file(entry.path());
    return out;
}

} // namespace

TEST(NixCompat, ProbeSeesWhatNixsSandboxShows) {
    if (::access("/usr/bin/nix-build", X_OK) != 0) GTEST_SKIP() << "Debian's nix-bin is not installed";
    if (::geteuid() != 0) GTEST_SKIP() << "Nix's sandbox with a fresh --store is run as root here";
    TempDir work;
    make_busybox_tree(work.path());
    fs::create_directories(work.path() / "conf");
    // As root both build as an unprivileged user: Nix as a member of a build users group made for the
    // test, ferry under an auto-allocated uid; the builder sees the same either way.
    TestBuildUsers users(1);
    write_file_atomic(work.path() / "conf/nix.conf",
                      "build-users-group = " + users.group() +
                          "\nsandbox = true\ncores = 1\n"
                          "experimental-features = nix-command\nsubstituters =\n");
    HostListener listener;
    auto port = std::to_string(listener.port());
    fs::copy_file(test_data_dir() / "sandbox/probe.sh", work.path() / "probe.sh");
    write_file_atomic(
        work.path() / "probe.nix",
        "let bb = builtins.path { path = ./bb; name = \"busybox-static\"; };\n"
        "in derivation { name = \"probe\"; system = \"x86_64-linux\"; builder = \"${bb}/bin/sh\";\n"
        "  args = [ \"-c\" (builtins.readFile ./probe.sh) ]; hostPort = \"" +
            port + "\"; loPort = \"4242\"; }\n");
    auto w = work.path().string();
    auto nix_out = shell_output("cd " + w + " && NIX_CONF_DIR=" + w + "/conf NIX_STATE_DIR=" + w +
                                "/state HOME=" + w + " XDG_CACHE_HOME=" + w + "/cache nix-build --store " +
                                w + "/store probe.nix --no-out-link 2>/dev/null");
    ASSERT_TRUE(nix_out.has_value()) << "nix-build of the probe failed";
    while (!nix_out->empty() && nix_out->back() == '\n')
        nix_out->pop_back();

    FakeStore store;
    auto drv = store.shell_derivation("probe", read_file(test_data_dir() / "sandbox/probe.sh"),
                                      {{"hostPort", port}, {"loPort", "4242"}});
    ASSERT_EQ(drv.outputs.at("out").path, *nix_out) << "ferry and Nix disagree on the probe derivation";
    auto job = store.job(drv);
    SandboxBuilder builder;
    auto ours = files_in(run_build(builder, job)->locations.at("out"));
    auto theirs = files_in(work.path() / "store" / nix_out->substr(1));
    // The one difference asked for: inputs are read-only mounts here (EROFS), while Nix leaves them
    // writable mounts of root-owned files (EACCES).
    ASSERT_TRUE(ours.count("write-input") && theirs.count("write-input"));
    EXPECT_NE(ours["write-input"].find("Read-only file system"), std::string::npos);
    EXPECT_NE(theirs["write-input"].find("Permission denied"), std::string::npos);
    ours.erase("write-input");
    theirs.erase("write-input");
    EXPECT_EQ(ours, theirs);
}
