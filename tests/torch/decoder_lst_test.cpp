// LST on decoder-only backbones: structure, frozen backbone, generation with both caches,
// GQA-aware pruning, and learning on stories260K. Parity with an independent plain-PyTorch
// reference is in DecoderLstGolden (tests/reference/decoder_lst_reference.py).
#include <gtest/gtest.h>

#include <filesystem>

#include "../core/expect_error.h"
#include "ladder/error.h"
#include "ladder/methods/decoder_only_lst.h"
#include "ladder/models/llama/generate.h"
#include "ladder/models/llama/llama2c.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/tensor_io.h"
#include "decoder_test_util.h"
#include "test_util.h"

namespace ladder {
namespace {

std::string llama_dir(const std::string& name) { return std::string(LADDER_TEST_DATA) + "/llama/" + name; }

MethodOptions lst_options(nlohmann::json settings) {
  MethodOptions o;
  o.name = "lst";
  o.settings = std::move(settings);
  o.seed = 3;
  return o;
}

Seq2SeqBatch golden_batch(const std::string& name) {
  auto golden = read_safetensors(llama_dir(name) + "/golden.safetensors");
  Seq2SeqBatch batch;
  batch.input_ids = golden.at("input_ids");
  batch.attention_mask = golden.at("attention_mask");
  batch.labels = golden.at("labels");
  return batch;
}

DecoderOnlyLstMethod& as_lst(FineTuningMethod& method) { return dynamic_cast<DecoderOnlyLstMethod&>(method); }

TEST(DecoderOnlyLst, SideNetworkShapesAndNames) {
  auto method = make_method(load_causal_lm(llama_dir("llama-gqa")).model, lst_options({{"reduction", 2}}));
  DecoderOnlyLstMethod& lst = as_lst(*method);
  EXPECT_EQ(lst.side->kept, (std::vector<int64_t>{1}));  // 2 layers: drop every 4th from 0
  EXPECT_EQ(lst.side->config.hidden_size, 16);
  EXPECT_EQ(lst.side->config.head_dim, 4);
  EXPECT_EQ(lst.side->config.num_key_value_heads, 2);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (auto& [name, tensor] : method->named_trainable()) shapes[name] = tensor.sizes().vec();
  EXPECT_EQ(shapes.at("side.layers.0.self_attn.q_proj.weight"), (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(shapes.at("side.layers.0.self_attn.k_proj.weight"), (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(shapes.at("side.ladder.0.weight"), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(shapes.at("side.gate"), (std::vector<int64_t>{2}));
  EXPECT_EQ(shapes.at("upsample.weight"), (std::vector<int64_t>{32, 16}));
  EXPECT_FALSE(method->settings().contains("encoder_layers"));

  std::string message = test::error_of<UsageError>(
      [] { make_method(load_causal_lm(llama_dir("llama-gqa")).model, lst_options({{"reduction", 8}})); });
  EXPECT_TRUE(test::contains(message, "head dimension must stay even")) << message;
  EXPECT_TRUE(test::contains(message, "the largest that fits is 4")) << message;  // head_dim 8: 8 / 4 = 2
  message = test::error_of<UsageError>(
      [] { make_method(load_causal_lm(llama_dir("llama-gqa")).model, lst_options({{"encoder_layers", {0}}})); });
  EXPECT_TRUE(test::contains(message, "no encoder")) << message;
}

// The backbone runs without autograd: only side parameters get gradients, and the kept
// blocks' outputs (all the backbone hands over) carry no graph.
TEST(DecoderOnlyLst, BackboneIsFrozenAndOutsideTheGraph) {
  auto method = make_method(load_causal_lm(llama_dir("qwen2-bias")).model, lst_options({{"reduction", 2}, {"side_layers", {0, 1}}}));
  Seq2SeqBatch batch = golden_batch("qwen2-bias");
  DecoderOnlyLstMethod& lst = as_lst(*method);
  auto states = lst.run_backbone(batch.input_ids, batch.attention_mask);
  ASSERT_EQ(states.ladder_inputs.size(), 2u);
  for (const auto& h : states.ladder_inputs) EXPECT_FALSE(h.requires_grad());
  method->forward(batch).loss.backward();
  for (const auto& p : lst.causal->parameters()) EXPECT_FALSE(p.grad().defined());
  for (auto& [name, tensor] : method->named_trainable()) EXPECT_TRUE(tensor.grad().defined()) << name;
}

TEST(DecoderOnlyLst, GenerationWithBothCachesEqualsRecomputing) {
  auto method = make_method(load_causal_lm(llama_dir("llama3-tied-scaled")).model,
                            lst_options({{"reduction", 2}, {"side_layers", {0, 2}}, {"gate_alpha_init", 0.05}}));
  method->set_training(false);
  const LlamaConfig& config = as_lst(*method).causal->config;
  auto [ids, mask] = left_padded_batch({{5, 9, 30, 41, 7}, {12, 60}}, config.fill_token_id());
  GenerationOptions options;
  options.max_new_tokens = 6;
  torch::Tensor cached = greedy_generate(*method->start_causal_decoding(true), ids, mask, config, options);
  torch::Tensor recomputed = greedy_generate(*method->start_causal_decoding(false), ids, mask, config, options);
  EXPECT_TRUE(torch::equal(cached, recomputed)) << cached << recomputed;
  // Left padding changes nothing for the short row.
  auto [alone, alone_mask] = left_padded_batch({{12, 60}}, config.fill_token_id());
  torch::Tensor single = greedy_generate(*method->start_causal_decoding(true), alone, alone_mask, config, options);
  EXPECT_TRUE(torch::equal(single[0], cached[1].narrow(0, 0, single.size(1)))) << single << cached;
}

// Magnitude pruning keeps whole RoPE pairs, the same dimensions for every query head of a
// key/value group as for its key head, and copies those rows of the backbone.
TEST(DecoderOnlyLst, PruningKeepsGroupedHeadsAndRotaryPairsTogether) {
  test::TempDir dir;
  LlamaForCausalLM model = load_causal_lm(test::stories_folder(dir)).model;
  auto method = make_method(model, lst_options({{"reduction", 2}, {"side_init", "magnitude"}, {"side_layers", {0}}}));
  DecoderOnlyLstMethod& lst = as_lst(*method);
  // The chain's first kept residual dimensions, as pruning derives them from |embedding|.
  torch::Tensor dims = top_l1_rows(model->model->embed_tokens->weight.abs().t(), 32);
  torch::Tensor q = model->model->layers[0]->self_attn->q_proj->weight.index_select(1, dims);
  torch::Tensor k = model->model->layers[0]->self_attn->k_proj->weight.index_select(1, dims);
  torch::Tensor side_q = lst.side->layers[0]->self_attn->q_proj->weight.detach();
  torch::Tensor side_k = lst.side->layers[0]->self_attn->k_proj->weight.detach();
  auto source_row = [](const torch::Tensor& rows, const torch::Tensor& row) {
    for (int64_t r = 0; r < rows.size(0); ++r)
      if (torch::equal(rows[r], row)) return r;
    return int64_t{-1};
  };
  const int64_t hd = 8, side_hd = 4;  // stories260K: 8 heads, 4 key/value heads, head_dim 8
  for (int64_t g = 0; g < 4; ++g) {
    std::vector<int64_t> k_dims;
    for (int64_t i = 0; i < side_hd; ++i) {
      const int64_t r = source_row(k, side_k[g * side_hd + i]);
      ASSERT_GE(r, 0) << "side k row " << g * side_hd + i << " is no backbone row";
      EXPECT_EQ(r / hd, g) << "a key head keeps its own group's rows";
      k_dims.push_back(r % hd);
    }
    // Pairs (t, t + 4) land at (i, i + 2).
    for (int64_t i = 0; i < side_hd / 2; ++i) EXPECT_EQ(k_dims[i] + hd / 2, k_dims[i + side_hd / 2]);
    for (int64_t h = 2 * g; h < 2 * g + 2; ++h)
      for (int64_t i = 0; i < side_hd; ++i) {
        const int64_t r = source_row(q, side_q[h * side_hd + i]);
        ASSERT_GE(r, 0);
        EXPECT_EQ(r, h * hd + k_dims[i]) << "query head " << h << " keeps its key head's dimensions";
      }
  }
}

TEST(DecoderOnlyLst, FisherInitialisationUsesTheExamples) {
  auto model = load_causal_lm(llama_dir("llama-gqa")).model;
  auto method = make_method(model, lst_options({{"reduction", 2}, {"fisher_samples", 2}}));
  EXPECT_EQ(method->init_examples_needed(), 2);
  const torch::Tensor before = as_lst(*method).side->layers[0]->mlp->down_proj->weight.detach().clone();
  Seq2SeqBatch batch = golden_batch("llama-gqa");
  std::vector<Seq2SeqBatch> examples;
  for (int64_t b = 0; b < 2; ++b) {
    Seq2SeqBatch one;
    one.input_ids = batch.input_ids.narrow(0, b, 1);
    one.labels = batch.labels.narrow(0, b, 1);
    examples.push_back(one);
  }
  EXPECT_TRUE(test::contains(method->initialize_from_examples(examples), "Fisher"));
  EXPECT_EQ(method->init_examples_needed(), 0);
  const torch::Tensor after = as_lst(*method).side->layers[0]->mlp->down_proj->weight.detach();
  EXPECT_FALSE(torch::equal(before, after));
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.requires_grad());
}

// stories260K learns a fixed completion through the side network alone.
TEST(DecoderOnlyLst, LowersTheLossOfACompletionOnStories260K) {
  test::TempDir dir;
  auto method = make_method(load_causal_lm(test::stories_folder(dir)).model,
                            lst_options({{"reduction", 2}, {"side_init", "magnitude"}}));
  auto [first, last] = test::fit(*method, test::stories_completion(), 60, 3e-3);
  EXPECT_GT(first, 3.0);
  EXPECT_LT(last, 0.5) << "first " << first << ", last " << last;
}

// Parity with tests/reference/decoder_lst_reference.py: the same side weights give the same
// logits, loss, gradient of every side parameter and greedy continuation.
class DecoderLstGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderLstGolden, LogitsLossGradientsAndGreedyEqualTheReference) {
  const std::string stem = std::string(LADDER_TEST_DATA) + "/lst_golden/decoder-only/" + GetParam();
  auto golden = read_safetensors(stem + ".safetensors");
  nlohmann::json settings = nlohmann::json::parse(test::read_text(stem + ".json"));
  settings["side_init"] = "random";
  auto method = make_method(load_causal_lm(llama_dir("llama-gqa")).model, lst_options(settings));
  int64_t loaded = 0;
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : method->named_trainable()) {
      ASSERT_TRUE(golden.count(name)) << name << " is not in the reference";
      tensor.copy_(golden.at(name));
      ++loaded;
    }
  }
  int64_t reference_weights = 0;
  for (const auto& [name, t] : golden) reference_weights += name.rfind("side.", 0) == 0 || name.rfind("upsample.", 0) == 0;
  EXPECT_EQ(loaded, reference_weights);
  method->set_training(false);
  Seq2SeqBatch batch;
  batch.input_ids = golden.at("input_ids");
  batch.attention_mask = golden.at("attention_mask");
  batch.labels = golden.at("labels");
  Seq2SeqOutput out = method->forward(batch);
  EXPECT_LE(test::max_abs_diff(out.logits, golden.at("logits")), 2e-5);
  EXPECT_LE(test::max_abs_diff(out.loss.reshape({1}), golden.at("loss")), 1e-5);
  out.loss.backward();
  for (auto& [name, tensor] : method->named_trainable()) {
    const torch::Tensor grad = tensor.grad().defined() ? tensor.grad() : torch::zeros_like(tensor);
    EXPECT_LE(test::max_rel_diff(grad, golden.at("grad." + name)), 1e-4) << name;
  }
  GenerationOptions options;
  options.max_new_tokens = 5;
  const LlamaConfig& config = as_lst(*method).causal->config;
  for (bool cache : {true, false}) {
    torch::Tensor ids = greedy_generate(*method->start_causal_decoding(cache), batch.input_ids.narrow(0, 0, 1).narrow(1, 0, 4), {},
                                        config, options);
    EXPECT_TRUE(torch::equal(ids, golden.at("greedy_ids"))) << (cache ? "cached " : "recomputed ") << ids;
  }
}

INSTANTIATE_TEST_SUITE_P(Settings, DecoderLstGolden, ::testing::Values("llama-gqa-k1", "llama-gqa-k01"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace ladder
