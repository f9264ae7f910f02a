#include "ferry/store/derivation.hh"

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ferry/store/derivation_hash.hh"
#include "ferry/store/derivation_json.hh"
#include "ferry/util/error.hh"
#include "ferry/util/file.hh"
#include "support/fixtures.hh"

using namespace ferry;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    StoreDir dir;
    std::map<std::string, std::string> texts; // drv base name → ATerm
    nlohmann::json expected = nlohmann::json::parse(read_file(test::compat_dir() / "derivations.json"));

    Fixture() {
        for (const auto& e : fs::directory_iterator(test::compat_dir() / "drv"))
            texts[e.path().filename().string()] = read_file(e.path());
    }
    Derivation load(const StorePath& p) {
        auto name = std::string(p.name());
        return parse_derivation(dir, texts.at(p.to_string()), name.substr(0, name.size() - 4));
    }
    DerivationHasher hasher() {
        return DerivationHasher(dir, [this](const StorePath& p) { return load(p); });
    }
};

} // namespace

TEST(Derivation, FixturesPrintBackByteForByte) {
    Fixture f;
    ASSERT_EQ(f.texts.size(), 11u);
    for (const auto& [base, text] : f.texts) {
        auto drv = f.load(StorePath(base));
        EXPECT_EQ(unparse_derivation(f.dir, drv), text) << base;
        EXPECT_EQ(derivation_store_path(f.dir, drv).to_string(), base);
    }
}

TEST(Derivation, OutputPathsMatchNix) {
    Fixture f;
    auto hasher = f.hasher();
    size_t checked = 0;
    for (const auto& [base, text] : f.texts) {
        auto drv = f.load(StorePath(base));
        auto paths = hasher.output_paths(drv);
        const auto& outs = f.expected.at("/nix/store/" + base).at("outputs");
        ASSERT_EQ(paths.size(), outs.size()) << base;
        for (const auto& [name, path] : paths) {
            EXPECT_EQ(f.dir.print(path), outs.at(name).at("path").get<std::string>()) << base << " " << name;
            ++checked;
        }
        EXPECT_NO_THROW(hasher.check_outputs(drv));
    }
    EXPECT_EQ(checked, 13u); // 11 derivations, multi-out has three outputs
}

TEST(Derivation, KindsAreRecognised) {
    Fixture f;
    auto flat = f.load(StorePath("isj5r3znlvly852dz0ab32zhynvmkfii-fixed-flat.txt.drv"));
    ASSERT_TRUE(flat.is_fixed_output());
    EXPECT_EQ(flat.outputs.at("out").fixed_hash()->method, FileIngestionMethod::flat);
    auto rec = f.load(StorePath("zpnyv6mid3g4d8ws0k75mq5b6xmwy78h-fixed-recursive.drv"));
    ASSERT_TRUE(rec.is_fixed_output());
    EXPECT_EQ(rec.outputs.at("out").fixed_hash()->method, FileIngestionMethod::recursive);
    auto multi = f.load(StorePath("izjiriha3x8j9191038a92y4ipmgd6iv-multi-out.drv"));
    EXPECT_FALSE(multi.is_fixed_output());
    EXPECT_EQ(multi.outputs.size(), 3u);
}

TEST(Derivation, JsonMatchesShowDerivation) {
    Fixture f;
    nlohmann::ordered_json all = nlohmann::ordered_json::object();
    for (const auto& [base, text] : f.texts) {
        auto drv = f.load(StorePath(base));
        auto j = derivation_to_json(f.dir, drv);
        all["/nix/store/" + base] = j;
        // And back again.
        auto back = derivation_from_json(f.dir, nlohmann::json::parse(j.dump()), drv.name);
        EXPECT_EQ(back, drv) << base;
    }
    auto file = read_file(test::compat_dir() / "derivations.json");
    EXPECT_EQ(all.dump(2), file.substr(0, file.find_last_not_of('\n') + 1));
}

TEST(Derivation, FillOutputsComputesMissingPaths) {
    Fixture f;
    auto hasher = f.hasher();
    for (const auto& [base, text] : f.texts) {
        auto drv = f.load(StorePath(base));
        auto blank = drv;
        for (auto& [name, out] : blank.outputs) {
            out.path.clear();
            blank.env.erase(name);
        }
        hasher.fill_outputs(blank);
        EXPECT_EQ(blank, drv) << base;
    }
}

TEST(Derivation, WrongOutputPathIsRejected) {
    Fixture f;
    auto hasher = f.hasher();
    auto drv = f.load(StorePath("nx6y523jlxy0231i9w3dbag93aw04y31-hello-text.drv"));
    drv.env["extra"] = "changed";
    try {
        hasher.check_outputs(drv);
        FAIL() << "no error";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("incorrect output 'out'"), std::string::npos) << e.what();
    }
}

TEST(Derivation, EscapesRoundTrip) {
    StoreDir dir;
    std::string s;
    print_aterm_string(s, "a\"b\\c\nd\re\tf$\x01");
    EXPECT_EQ(s, "\"a\\\"b\\\\c\\nd\\re\\tf$\x01\"");
}

// Every file in tests/data/drv/ is a broken derivation; cases.txt names the error each must give.
TEST(Derivation, BrokenCorpusGivesClearErrors) {
    StoreDir dir;
    auto corpus = test::test_data_dir() / "drv";
    std::ifstream cases(corpus / "cases.txt");
    std::string line;
    size_t n = 0;
    while (std::getline(cases, line)) {
        if (line.empty() || line[0] == '#') continue;
        auto tab = line.find('\t');
        ASSERT_NE(tab, std::string::npos) << line;
        auto file = line.substr(0, tab), expected = line.substr(tab + 1);
        auto text = read_file(corpus / file);
        try {
            if (file.ends_with(".json"))
                derivation_from_json(dir, nlohmann::json::parse(text));
            else
                parse_derivation(dir, text);
            ADD_FAILURE() << file << ": parsed without error";
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << file << ": " << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << file << ": not one line";
        }
        ++n;
    }
    EXPECT_GE(n, 14u);
}
