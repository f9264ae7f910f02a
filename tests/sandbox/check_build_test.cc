// --check: a rebuild in the sandbox compared with the valid outputs.
#include "ferry/sched/check_build.hh"

#include <unistd.h>

#include <gtest/gtest.h>

#include "ferry/sandbox/sandbox_builder.hh"
#include "ferry/sched/build_outputs.hh"
#include "ferry/store/derivation_store.hh"
#include "sandbox_fixture.hh"
#include "support/store_support.hh"

using namespace ferry;
using namespace ferry::test;

namespace {

/// A store with busybox, and a derivation built and registered in it.
class CheckBuild : public ::testing::Test {
protected:
    void SetUp() override {
        store_->add_to_store(make_busybox_tree(store_.dir.path()), FileIngestionMethod::recursive,
                             "busybox-static");
        scratch_ = store_.dir.path() / "scratch";
        std::filesystem::create_directories(scratch_);
    }

    /// Builds `drv` (already in the store) and returns the outputs, still in scratch space.
    std::unique_ptr<BuiltOutputs> build(const StorePath& drv_path, const Derivation& drv) {
        job_ = std::make_unique<BuildJob>(
            store_job(*store_.store, drv_path, drv, {StorePath(kBusyboxBase)}, scratch_));
        return run_build(builder_, *job_);
    }

    StorePath add(const Derivation& drv) { return add_derivation(*store_.store, drv); }

    TempStore store_;
    FakeStore fake_; // only to make derivations
    std::filesystem::path scratch_;
    SandboxBuilder builder_;
    std::unique_ptr<BuildJob> job_;
};

} // namespace

TEST_F(CheckBuild, DeterministicRebuildPasses) {
    auto drv = fake_.shell_derivation("steady", "mkdir $out; echo same > $out/file");
    auto drv_path = add(drv);
    auto first = build(drv_path, drv);
    register_build_outputs(*store_.store, drv_path, drv, job_->outputs, *first, job_->input_closure);
    auto again = build(drv_path, drv);
    EXPECT_NO_THROW(check_rebuild(*store_.store, drv_path, job_->outputs, *again));
}

TEST_F(CheckBuild, NonDeterministicRebuildIsNamed) {
    auto drv = fake_.shell_derivation("random", "cat /proc/sys/kernel/random/uuid > $out");
    auto drv_path = add(drv);
    auto first = build(drv_path, drv);
    register_build_outputs(*store_.store, drv_path, drv, job_->outputs, *first, job_->input_closure);
    auto valid = read_file(store_->real_path(job_->outputs.at("out")));
    auto again = build(drv_path, drv);
    try {
        check_rebuild(*store_.store, drv_path, job_->outputs, *again);
        FAIL() << "two random outputs were equal";
    } catch (const NotDeterministic& e) {
        EXPECT_EQ(e.output(), "out");
        EXPECT_EQ(std::string(e.what()), "derivation '" + store_->print(drv_path) +
                                             "' may not be deterministic: output '" +
                                             store_->print(job_->outputs.at("out")) + "' differs");
    }
    EXPECT_EQ(read_file(store_->real_path(job_->outputs.at("out"))), valid)
        << "a check never touches the store";
}

TEST_F(CheckBuild, KeepFailedKeepsTheDifferingTreeBesideTheValidOne) {
    auto drv = fake_.shell_derivation("random-tree",
                                      "mkdir -p $out/sub; cat /proc/sys/kernel/random/uuid > $out/sub/id");
    auto drv_path = add(drv);
    auto first = build(drv_path, drv);
    register_build_outputs(*store_.store, drv_path, drv, job_->outputs, *first, job_->input_closure);
    auto real = store_->real_path(job_->outputs.at("out"));
    auto valid = read_file(real / "sub" / "id");
    std::filesystem::path kept = real.string() + ".check";
    for (int round = 0; round < 2; ++round) { // the second replaces the first
        auto again = build(drv_path, drv);
        try {
            check_rebuild(*store_.store, drv_path, job_->outputs, *again, true);
            FAIL() << "two random outputs were equal";
        } catch (const NotDeterministic& e) {
            EXPECT_TRUE(std::string(e.what()).ends_with("differs from '" + kept.string() + "'")) << e.what();
        }
        ASSERT_TRUE(std::filesystem::exists(kept / "sub" / "id"));
        EXPECT_NE(read_file(kept / "sub" / "id"), valid);
    }
    EXPECT_EQ(read_file(real / "sub" / "id"), valid);
}

TEST_F(CheckBuild, NothingToCheckAgainst) {
    auto drv = fake_.shell_derivation("never-built", "echo x > $out");
    auto drv_path = add(drv);
    auto built = build(drv_path, drv);
    EXPECT_THROW(check_rebuild(*store_.store, drv_path, job_->outputs, *built), InvalidPath);
}
