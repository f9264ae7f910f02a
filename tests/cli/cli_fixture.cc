#include "cli_fixture.hh"

#include "ferry/store/store_path.hh"
#include "support/fixtures.hh"
#include "support/store_support.hh"

namespace fs = std::filesystem;

namespace ferry::test {

const std::string kBusybox = "/nix/store/jsm9cyjvamk013ndqlj8ckgaqp3yrw28-busybox-static";

CliTest::CliTest() {
    isolate_config_environment(env_dir());
}

FerryResult CliTest::ferry(std::vector<std::string> args, const fs::path& in) {
    args.insert(args.begin(), {"--store", root.string()});
    return run_ferry(args, in);
}

std::vector<std::string> CliTest::import_args(const nlohmann::json& e) {
    std::vector<std::string> a{"store",      "import",    compat_nar(e).string(), "--path", e["path"],
                               "--nar-hash", e["narHash"]};
    for (const auto& r : e["references"])
        a.insert(a.end(), {"--reference", r.get<std::string>()});
    if (e.contains("deriver")) a.insert(a.end(), {"--deriver", e["deriver"].get<std::string>()});
    if (e.contains("ca")) a.insert(a.end(), {"--ca", e["ca"].get<std::string>()});
    for (const auto& s : e["signatures"])
        a.insert(a.end(), {"--sig", s.get<std::string>()});
    return a;
}

void CliTest::import_busybox() {
    auto r = ferry(import_args(fixture("-busybox-static")));
    ASSERT_EQ(r.status, 0) << r.err;
}

void CliTest::expect_empty_store() {
    for (const auto& e : fs::directory_iterator(config.real_store_dir()))
        EXPECT_EQ(e.path().filename(), kStagingDirName);
    for (const auto& e : fs::directory_iterator(config.staging_dir()))
        EXPECT_TRUE(is_staging_lock(e.path().filename().string())) << e.path();
}

nlohmann::json CliTest::fixture(std::string_view suffix) {
    for (const auto& e : compat_path_infos())
        if (e["path"].get<std::string>().ends_with(suffix)) return e;
    throw std::runtime_error("no fixture " + std::string(suffix));
}

namespace {

nlohmann::ordered_json busybox_json(const std::string& name, const std::string& script) {
    nlohmann::ordered_json j;
    j["outputs"]["out"]["path"] = "";
    j["inputSrcs"] = {kBusybox};
    j["inputDrvs"] = nlohmann::ordered_json::object();
    j["system"] = "x86_64-linux";
    j["builder"] = kBusybox + "/bin/sh";
    j["args"] = {"-c", script};
    j["env"] = {{"name", name},
                {"builder", kBusybox + "/bin/sh"},
                {"system", "x86_64-linux"},
                {"out", ""},
                {"bb", kBusybox + "/bin"}};
    return j;
}

std::string write_json(const fs::path& dir, const std::string& name, const nlohmann::ordered_json& j) {
    auto file = dir / (name + ".json");
    write_file_atomic(file, j.dump());
    return file.string();
}

} // namespace

std::string busybox_derivation(const fs::path& dir, const std::string& name, const std::string& script,
                               const std::vector<std::pair<std::string, std::string>>& extra_env) {
    auto j = busybox_json(name, script);
    for (const auto& [key, value] : extra_env)
        j["env"][key] = value;
    return write_json(dir, name, j);
}

std::string fixed_output_derivation(const fs::path& dir, const std::string& name, const std::string& script,
                                    const std::string& hash) {
    auto j = busybox_json(name, script);
    j["outputs"]["out"]["hashAlgo"] = "sha256";
    j["outputs"]["out"]["hash"] = hash;
    j["env"]["outputHashMode"] = "flat";
    j["env"]["outputHashAlgo"] = "sha256";
    j["env"]["outputHash"] = hash;
    return write_json(dir, name, j);
}

std::vector<std::string> sleepy_derivations(const fs::path& dir, int n, const char* seconds) {
    std::vector<std::string> files;
    for (int i = 0; i < n; ++i)
        files.push_back(
            busybox_derivation(dir, "sleepy-" + std::to_string(i),
                               std::string("$bb/busybox sleep ") + seconds + "; echo $name > $out"));
    return files;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1)
        out.push_back(text.substr(pos, nl - pos));
    return out;
}

} // namespace ferry::test
