// arch:DIR and arch:CONFIG.json: the architecture of a folder with fresh random weights (the
// baseline against which the accuracy table measures what pretraining adds).
#include <gtest/gtest.h>

#include <filesystem>

#include "ladder/error.h"
#include "ladder/models/t5/load.h"
#include "test_util.h"

namespace ladder {
namespace {

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(LoadArchitecture, FolderGivesItsArchitectureWithRandomWeights) {
  const std::string dir = test::fixture_dir("t5-tiny-untied");
  const LoadedModel trained = load_model(dir);
  ModelOptions seeded;
  seeded.seed = 3;
  const LoadedModel random = load_model("arch:" + dir, seeded);
  EXPECT_EQ(architecture_checksum(*random.model), architecture_checksum(*trained.model));
  EXPECT_EQ(count(*random.model), count(*trained.model));
  // Untied head kept (lm_head.weight exists), weights are not the checkpoint's.
  const auto random_params = random.model->named_parameters();
  const auto trained_params = trained.model->named_parameters();
  ASSERT_NE(random_params.find("lm_head.weight"), nullptr);
  EXPECT_FALSE(torch::allclose(random_params["shared.weight"], trained_params["shared.weight"]));
  // Same seed, same weights; another seed, other weights.
  const LoadedModel again = load_model("arch:" + dir, seeded);
  EXPECT_TRUE(torch::equal(again.model->named_parameters()["shared.weight"], random_params["shared.weight"]));
  ModelOptions other;
  other.seed = 4;
  EXPECT_FALSE(torch::equal(load_model("arch:" + dir, other).model->named_parameters()["shared.weight"],
                            random_params["shared.weight"]));
  // A config file works the same way.
  const LoadedModel from_config = load_model("arch:" + dir + "/config.json", seeded);
  EXPECT_TRUE(torch::equal(from_config.model->named_parameters()["shared.weight"], random_params["shared.weight"]));
}

TEST(LoadArchitecture, UnknownNameListsTheChoices) {
  try {
    load_model("arch:t5-nonexistent");
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("t5-small"), std::string::npos) << message;
    EXPECT_NE(message.find("arch:DIR"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace ladder
