// Parity with Hugging Face transformers on the four tiny fixture models (llm.c style):
// hidden states, logits, loss, gradients and greedy generations.
#include <gtest/gtest.h>

#include "ladder/models/generate.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {

class T5Parity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    loaded = load_model(test::fixture_dir(GetParam()));
    loaded.model->eval();
    golden = read_safetensors(test::fixture_dir(GetParam()) + "/golden.safetensors");
    batch.input_ids = golden.at("input_ids");
    batch.attention_mask = golden.at("attention_mask");
    batch.labels = golden.at("labels");
  }
  LoadedModel loaded;
  std::map<std::string, torch::Tensor> golden;
  Seq2SeqBatch batch;
};

TEST_P(T5Parity, HiddenStatesLogitsAndLoss) {
  torch::NoGradGuard no_grad;
  Seq2SeqOutput out = loaded.model->forward(batch, /*collect_hidden=*/true);
  const T5Config& c = loaded.model->config;
  ASSERT_EQ(out.encoder_hidden_states.size(), static_cast<size_t>(c.num_layers + 1));
  ASSERT_EQ(out.decoder_hidden_states.size(), static_cast<size_t>(c.num_decoder_layers + 1));
  for (size_t i = 0; i < out.encoder_hidden_states.size(); ++i)
    EXPECT_LE(test::max_abs_diff(out.encoder_hidden_states[i], golden.at("encoder_hidden_states." + std::to_string(i))), 1e-4)
        << "encoder hidden state " << i;
  for (size_t i = 0; i < out.decoder_hidden_states.size(); ++i)
    EXPECT_LE(test::max_abs_diff(out.decoder_hidden_states[i], golden.at("decoder_hidden_states." + std::to_string(i))), 1e-4)
        << "decoder hidden state " << i;
  EXPECT_LE(test::max_abs_diff(out.logits, golden.at("logits")), 1e-4);
  EXPECT_LE(test::max_abs_diff(out.loss.reshape({1}), golden.at("loss")), 1e-4);
}

TEST_P(T5Parity, DecoderInputIdsMatchShiftedLabels) {
  torch::Tensor shifted = shift_right(batch.labels, 0, 0);
  EXPECT_TRUE(torch::equal(shifted, golden.at("decoder_input_ids")));
}

// Every fixture, t5-tiny-untied included (it has no golden generations): the cached decoder
// generates exactly what recomputing the whole prefix at every step does.
TEST_P(T5Parity, CachedGreedyEqualsUncached) {
  GenerationOptions options;
  options.max_new_tokens = 8;
  torch::Tensor cached = greedy_generate(*loaded.model, batch.input_ids, batch.attention_mask, options);
  options.use_cache = false;
  torch::Tensor uncached = greedy_generate(*loaded.model, batch.input_ids, batch.attention_mask, options);
  ASSERT_EQ(cached.size(0), batch.input_ids.size(0));
  EXPECT_GE(cached.size(1), 2);
  EXPECT_LE(cached.size(1), 1 + 8);  // the start token, then at most 8 new ones
  EXPECT_TRUE(torch::equal(cached, uncached)) << cached << "\nuncached\n" << uncached;
}

// t5-tiny-untied ships neither gradients nor generations.
class T5ParityTraining : public T5Parity {};

TEST_P(T5ParityTraining, Gradients) {
  int checked = 0;
  double worst = 0;
  Seq2SeqOutput out = loaded.model->forward(batch);
  out.loss.backward();
  for (const auto& item : loaded.model->named_parameters()) {
    auto it = golden.find("grad." + item.key());
    if (it == golden.end()) continue;
    ++checked;
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    const double error = test::max_rel_diff(item.value().grad(), it->second);
    worst = std::max(worst, error);
    EXPECT_LE(error, 1e-3) << item.key();
  }
  RecordProperty("max_relative_gradient_error", std::to_string(worst));
  std::cout << GetParam() << ": max relative gradient error " << worst << "\n";
  int expected = 0;
  for (const auto& [name, tensor] : golden) expected += name.rfind("grad.", 0) == 0;
  EXPECT_GT(expected, 0);
  EXPECT_EQ(checked, expected);
}

TEST_P(T5ParityTraining, GreedyGeneration) {
  auto it = golden.find("generated_ids");
  ASSERT_NE(it, golden.end());
  GenerationOptions options;
  options.max_new_tokens = 8;
  torch::Tensor generated = greedy_generate(*loaded.model, batch.input_ids, batch.attention_mask, options);
  EXPECT_TRUE(torch::equal(generated, it->second)) << generated << "\nexpected\n" << it->second;
  options.use_cache = false;
  torch::Tensor recomputed = greedy_generate(*loaded.model, batch.input_ids, batch.attention_mask, options);
  EXPECT_TRUE(torch::equal(recomputed, it->second));
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, T5Parity,
                         ::testing::Values("t5-tiny-v1_0", "t5-tiny-v1_1", "t5-tiny-relpos", "t5-tiny-untied"),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, T5ParityTraining,
                         ::testing::Values("t5-tiny-v1_0", "t5-tiny-v1_1", "t5-tiny-relpos"), param_name);

}  // namespace
}  // namespace ladder
