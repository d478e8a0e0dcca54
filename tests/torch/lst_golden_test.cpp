// Golden tests of every LST number against an independent reference of the authors' method
// (tests/reference/lst_reference.py, plain PyTorch; its outputs are in tests/data/lst_golden/):
// forward logits and loss, every side gradient, the empirical Fisher, and the side weights
// that magnitude and Fisher pruning produce.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "ladder/io/json_file.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {

using Tensors = std::map<std::string, torch::Tensor>;

std::string golden_path(const std::string& fixture, const std::string& ext) {
  return std::string(LADDER_TEST_DATA) + "/lst_golden/" + fixture + ext;
}

class LstGolden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = read_safetensors(golden_path(GetParam(), ".safetensors"));
    meta_ = read_json_file(golden_path(GetParam(), ".json"));
  }

  std::unique_ptr<LstMethod> make(const std::string& side_init, nlohmann::json extra = nlohmann::json::object()) {
    MethodOptions options;
    options.name = "lst";
    options.settings = {{"reduction", meta_.at("reduction")},
                        {"encoder_layers", meta_.at("encoder_layers")},
                        {"decoder_layers", meta_.at("decoder_layers")},
                        {"gate_temperature", meta_.at("gate_temperature")},
                        {"side_init", side_init}};
    options.settings.update(extra);
    return std::make_unique<LstMethod>(load_model(test::fixture_dir(GetParam())).model, options);
  }

  // An LST whose side weights are the reference's given ones (gates alpha != 0).
  std::unique_ptr<LstMethod> with_given_weights() {
    auto lst = make("random");
    const Tensors given = test::with_prefix(golden_, "side.");
    torch::NoGradGuard no_grad;
    int copied = 0;
    for (auto& [name, tensor] : lst->named_trainable()) {
      auto it = given.find(name);
      if (it == given.end()) {
        ADD_FAILURE() << "the reference has no side tensor " << name;
        continue;
      }
      EXPECT_EQ(tensor.sizes(), it->second.sizes()) << name;
      if (tensor.sizes() == it->second.sizes()) tensor.copy_(it->second);
      ++copied;
    }
    EXPECT_EQ(copied, static_cast<int>(given.size())) << "the reference has side tensors ladder does not";
    lst->set_training(false);
    return lst;
  }

  Seq2SeqBatch batch() const {
    Seq2SeqBatch b;
    b.input_ids = golden_.at("input_ids");
    b.attention_mask = golden_.at("attention_mask");
    b.labels = golden_.at("labels");
    return b;
  }

  std::vector<Seq2SeqBatch> fisher_examples() const {
    std::vector<Seq2SeqBatch> out;
    for (int k = 0; golden_.count("fisher_input_ids." + std::to_string(k)); ++k) {
      Seq2SeqBatch b;
      b.input_ids = golden_.at("fisher_input_ids." + std::to_string(k));
      b.attention_mask = torch::ones_like(b.input_ids);
      b.labels = golden_.at("fisher_labels." + std::to_string(k));
      out.push_back(b);
    }
    return out;
  }

  // Every side-block tensor the reference pruned (prefix.NAME) equals ladder's, exactly: both
  // are copies of the same backbone values, so any difference is a different kept set.
  void expect_side_equals(LstMethod& lst, const std::string& prefix) {
    const Tensors expected = test::with_prefix(golden_, prefix);
    ASSERT_GT(expected.size(), 10u);
    std::map<std::string, torch::Tensor> ours;
    for (auto& [name, tensor] : lst.named_trainable()) ours[name] = tensor;
    for (const auto& [name, want] : expected) {
      ASSERT_TRUE(ours.count(name)) << name;
      EXPECT_TRUE(torch::equal(ours.at(name), want)) << prefix << name << ": not the reference's pruned weights";
    }
  }

  Tensors golden_;
  nlohmann::json meta_;
};

TEST_P(LstGolden, LogitsLossAndEverySideGradientMatchTheReference) {
  auto lst = with_given_weights();
  Seq2SeqOutput out = lst->forward(batch());
  EXPECT_LE(test::max_rel_diff(out.logits.detach(), golden_.at("logits")), 2e-6);
  EXPECT_NEAR(out.loss.item<double>(), golden_.at("loss").item<double>(), 2e-6 * golden_.at("loss").item<double>());
  out.loss.backward();
  const Tensors grads = test::with_prefix(golden_, "grad.");
  int compared = 0;
  for (auto& [name, tensor] : lst->named_trainable()) {
    ASSERT_TRUE(grads.count(name)) << name;
    ASSERT_TRUE(tensor.grad().defined()) << name;
    // Gates of dropped layers get no gradient, and the reference's is zero there too.
    const torch::Tensor& want = grads.at(name);
    if (want.abs().max().item<double>() == 0.0) {
      EXPECT_EQ(tensor.grad().abs().max().item<double>(), 0.0) << name;
    } else {
      // A gate's gradient sums every position's contribution, with cancellation: fp32 gives it
      // a few 1e-5 relative on libtorch 2.6; every other tensor agrees to 1e-5.
      const bool gate = name.size() > 5 && name.compare(name.size() - 5, 5, ".gate") == 0;
      EXPECT_LE(test::max_rel_diff(tensor.grad(), want), gate ? 1e-4 : 2e-5) << name;
    }
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(grads.size()));
}

TEST_P(LstGolden, FisherImportanceMatchesTheReference) {
  auto lst = make("random");
  const auto fisher = fisher_importance(*lst->backbone(), fisher_examples());
  const Tensors expected = test::with_prefix(golden_, "fisher.");
  ASSERT_GE(expected.size(), 5u);
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(fisher.count(name)) << name;
    EXPECT_GT(want.abs().max().item<double>(), 0.0) << name;
    EXPECT_LE(test::max_rel_diff(fisher.at(name), want), 1e-4) << name;
  }
}

TEST_P(LstGolden, MagnitudePruningGivesTheReferenceSideWeights) {
  auto lst = make("magnitude");
  expect_side_equals(*lst, "magnitude_side.");
}

TEST_P(LstGolden, FisherPruningGivesTheReferenceSideWeights) {
  auto lst = make("fisher");
  ASSERT_TRUE(lst->needs_fisher());
  lst->initialize_side(fisher_importance(*lst->backbone(), fisher_examples()));
  expect_side_equals(*lst, "fisher_side.");
}

TEST_P(LstGolden, EncoderColumnsRuleGivesItsReferenceSideWeights) {
  auto lst = make("fisher", {{"cross_attention_columns", "encoder"}});
  lst->initialize_side(fisher_importance(*lst->backbone(), fisher_examples()));
  expect_side_equals(*lst, "fisher_side_encoder_kv.");
}

TEST_P(LstGolden, ForwardCommandWithAdapterWritesTheReferenceLogitsAndGradients) {
  auto lst = with_given_weights();
  test::TempDir temp;
  save_method(*lst, temp / "adapter");
  write_safetensors(temp / "inputs.safetensors",
                    {{"input_ids", golden_.at("input_ids")}, {"attention_mask", golden_.at("attention_mask")},
                     {"labels", golden_.at("labels")}});
  test::CliResult r = test::run_cli({"forward", "--model", test::fixture_dir(GetParam()), "--adapter", temp / "adapter",
                                     "--inputs", temp / "inputs.safetensors", "--output", temp / "out.safetensors",
                                     "--gradients", "--threads", "1"},
                                    temp);
  ASSERT_EQ(r.status, 0) << r.err;
  const Tensors out = read_safetensors(temp / "out.safetensors");
  EXPECT_LE(test::max_rel_diff(out.at("logits"), golden_.at("logits")), 2e-6);
  EXPECT_NEAR(out.at("loss").item<double>(), golden_.at("loss").item<double>(), 2e-6 * golden_.at("loss").item<double>());
  int grads = 0;
  for (const auto& [name, want] : test::with_prefix(golden_, "grad.")) {
    ASSERT_TRUE(out.count("grad." + name)) << "grad." << name;
    EXPECT_LE(test::max_abs_diff(out.at("grad." + name), want), 1e-5 * std::max(1.0, want.abs().max().item<double>()))
        << name;
    ++grads;
  }
  EXPECT_EQ(grads, static_cast<int>(lst->named_trainable().size()));
  EXPECT_EQ(out.count("encoder_hidden_states.0"), 0u) << "a method's forward has no backbone hidden states";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LstGolden, ::testing::Values("t5-tiny-v1_0", "t5-tiny-v1_1"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace ladder
