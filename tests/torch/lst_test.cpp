// Ladder Side-Tuning: parameter counts, frozen backbone, pruning initialisation, save/load,
// cached generation and a short training run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <set>

#include "ladder/error.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {

std::unique_ptr<LstMethod> make(T5ForConditionalGeneration backbone, nlohmann::json settings, uint64_t seed = 0,
                                torch::ScalarType dtype = torch::kFloat) {
  MethodOptions options;
  options.name = "lst";
  options.settings = std::move(settings);
  options.seed = seed;
  options.backbone_dtype = dtype;
  return std::make_unique<LstMethod>(std::move(backbone), options);
}

using test::golden_batch;


TEST(LstParameters, T5BaseMatchesThePaper) {
  // Structure only: counting needs no weights, so skip the random initialisation.
  T5ForConditionalGeneration backbone(T5Config::builtin("t5-base"));
  auto lst = make(backbone, {{"side_init", "random"}});
  EXPECT_EQ(lst->backbone_count(), 222903552);
  EXPECT_EQ(lst->trainable_count(), 3878712);
  EXPECT_EQ(lst->side_encoder->gate.numel(), 12);
  EXPECT_EQ(lst->side_decoder->gate.numel(), 12);
  EXPECT_EQ(lst->lst_config().encoder_layers, (std::vector<int64_t>{1, 2, 3, 5, 6, 7, 9, 10, 11}));
  // The paper's 1.740% is checked where it is printed: cli_test's CliInspect.LstTrainableParametersOfT5Base.

  std::vector<int64_t> all(12);
  for (int i = 0; i < 12; ++i) all[i] = i;
  auto full_side = make(T5ForConditionalGeneration(T5Config::builtin("t5-base")), {{"side_init", "random"}, {"side_layers", all}});
  EXPECT_EQ(full_side->trainable_count(), 5097240);
}

TEST(LstParameters, DefaultLayerLists) {
  EXPECT_EQ(default_side_layers(24), (std::vector<int64_t>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  EXPECT_EQ(default_side_layers(6), (std::vector<int64_t>{1, 2, 3, 5}));
  EXPECT_EQ(default_side_layers(2), (std::vector<int64_t>{1}));
  T5Config side = side_config(T5Config::builtin("t5-3b"), 8);
  EXPECT_EQ(side.d_model, 128);
  EXPECT_EQ(side.num_heads, 32);
  EXPECT_EQ(side.d_kv, 16);
  EXPECT_EQ(side.d_ff, 2048);
}

TEST(LstParameters, BadSettingsAreClearErrors) {
  auto backbone = load_model(test::fixture_dir("t5-tiny-v1_0")).model;
  EXPECT_THROW(make(backbone, {{"reduction", 0}}), UsageError);
  EXPECT_THROW(make(backbone, {{"side_layers", {1, 0}}}), UsageError);
  EXPECT_THROW(make(backbone, {{"side_layers", {5}}}), UsageError);
  EXPECT_THROW(make(backbone, {{"colour", "red"}}), UsageError);
  // Too large a reduction names the largest that fits: the smallest of d_model, d_kv and d_ff.
  const T5Config& config = backbone->config;
  const int64_t largest = std::min({config.d_model, config.d_kv, config.d_ff});
  try {
    make(backbone, {{"reduction", largest + 1}});
    ADD_FAILURE() << "reduction " << largest + 1 << " was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("the largest that fits is " + std::to_string(largest)), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(make(backbone, {{"reduction", largest}, {"side_init", "random"}}));
}

TEST(LstTraining, BackboneGetsNoGradientAndGatesStartAtHalf) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model, {{"side_init", "random"}});
  for (auto* stack : {lst->side_encoder.get(), lst->side_decoder.get()}) {
    torch::Tensor mu = torch::sigmoid(stack->gate / lst->lst_config().gate_temperature);
    EXPECT_TRUE(torch::allclose(mu, torch::full_like(mu, 0.5)));
  }
  Seq2SeqBatch batch = golden_batch("t5-tiny-v1_0");
  LstMethod::BackboneStates states = lst->run_backbone_encoder(batch.input_ids, batch.attention_mask);
  auto expect_constant = [](const LstMethod::BackboneStates& s, const std::string& stack) {
    ASSERT_EQ(s.ladder_inputs.size(), 1u) << stack;
    std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"embeddings", s.embeddings}};
    // The backbone decoder's final output feeds nothing, so it need not be computed.
    if (stack == "encoder" || s.output.defined()) tensors.push_back({"output", s.output});
    for (const auto& h : s.ladder_inputs) tensors.push_back({"ladder input", h});
    for (const auto& [what, h] : tensors) {
      ASSERT_TRUE(h.defined()) << stack << " " << what;
      EXPECT_FALSE(h.requires_grad()) << stack << " " << what;
      EXPECT_EQ(h.grad_fn(), nullptr) << stack << " " << what;
    }
  };
  expect_constant(states, "encoder");
  LstMethod::BackboneStates decoder =
      lst->run_backbone_decoder(shift_right(batch.labels, 0, 0), states.output, batch.attention_mask);
  expect_constant(decoder, "decoder");
  Seq2SeqOutput out = lst->forward(batch);
  out.loss.backward();
  for (const auto& p : lst->backbone()->parameters()) EXPECT_FALSE(p.grad().defined());
  int with_grad = 0;
  for (auto& [name, p] : lst->named_trainable()) with_grad += p.grad().defined();
  EXPECT_EQ(with_grad, static_cast<int>(lst->named_trainable().size()));
  // Only the gates of kept layers receive a gradient.
  torch::Tensor gate_grad = lst->side_encoder->gate.grad();
  EXPECT_EQ(gate_grad[0].item<float>(), 0.0f);
  EXPECT_NE(gate_grad[1].item<float>(), 0.0f);
}

TEST(LstPruning, TopL1RowsAreAscending) {
  torch::Tensor importance = torch::tensor({{1.0, -1.0}, {5.0, 0.0}, {0.5, 0.25}, {-3.0, -3.0}});
  // L1 norms: 2, 5, 0.75, 6 -> the top two are rows 3 and 1, returned as [1, 3].
  EXPECT_TRUE(torch::equal(top_l1_rows(importance, 2), torch::tensor({1, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(top_l1_rows(importance, 3), torch::tensor({0, 1, 3}, torch::kLong)));
  EXPECT_THROW(top_l1_rows(importance, 5), Error);
}

void expect_side_equals_backbone(LstMethod& lst) {
  std::map<std::string, torch::Tensor> backbone;
  for (const auto& item : lst.backbone()->named_parameters()) backbone[item.key()] = item.value();
  int compared = 0;
  const std::pair<SideStackImpl*, std::string> stacks[] = {{lst.side_encoder.get(), "encoder"},
                                                           {lst.side_decoder.get(), "decoder"}};
  for (const auto& [stack, name] : stacks) {
    for (size_t j = 0; j < stack->kept.size(); ++j) {
      const std::string prefix = name + ".block." + std::to_string(stack->kept[j]) + ".";
      for (const auto& item : stack->side->blocks[j]->named_parameters()) {
        if (item.key().find("relative_attention_bias") != std::string::npos) continue;
        ASSERT_TRUE(backbone.count(prefix + item.key())) << prefix + item.key();
        EXPECT_TRUE(torch::equal(item.value(), backbone.at(prefix + item.key()))) << prefix + item.key();
        ++compared;
      }
    }
    EXPECT_TRUE(torch::equal(stack->side->final_layer_norm->weight, backbone.at(name + ".final_layer_norm.weight")));
    EXPECT_TRUE(torch::equal(stack->side->blocks[0]->self_attention->SelfAttention->relative_attention_bias->weight,
                             backbone.at(name + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight")));
  }
  EXPECT_GT(compared, 20);
}

TEST(LstPruning, ReductionOneReproducesTheBackboneWithMagnitude) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_1")).model,
                  {{"reduction", 1}, {"side_layers", {0, 1}}, {"side_init", "magnitude"}});
  expect_side_equals_backbone(*lst);
}

// Where a side value sits in the backbone matrix: the fixture's weights are distinct random
// floats, so each value names one cell.
std::pair<int64_t, int64_t> cell_of(const torch::Tensor& backbone, float value) {
  torch::Tensor hits = torch::nonzero(backbone == value);
  if (hits.size(0) != 1) {
    ADD_FAILURE() << value << " occurs " << hits.size(0) << " times in the backbone matrix";
    return {-1, -1};
  }
  return {hits[0][0].item<int64_t>(), hits[0][1].item<int64_t>()};
}

// Rows R and columns C with side == backbone[R][:, C], read off the side's first column and row.
std::pair<std::vector<int64_t>, std::vector<int64_t>> submatrix_sets(const torch::Tensor& side,
                                                                     const torch::Tensor& backbone) {
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < side.size(0); ++i) rows.push_back(cell_of(backbone, side[i][0].item<float>()).first);
  for (int64_t j = 0; j < side.size(1); ++j) cols.push_back(cell_of(backbone, side[0][j].item<float>()).second);
  const torch::Tensor R = torch::tensor(rows, torch::kLong), C = torch::tensor(cols, torch::kLong);
  EXPECT_TRUE(torch::equal(side, backbone.index_select(0, R).index_select(1, C))) << "not a submatrix";
  return {rows, cols};
}

// The Fisher chain is checked against the reference in lst_golden_test.cpp; this checks the
// same rule from first principles with magnitude importance.
TEST(LstPruning, ReducedSideIsTheTopL1SubmatrixAlongTheChain) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model,
                  {{"reduction", 4}, {"side_layers", {0, 1}}, {"side_init", "magnitude"}});
  auto& backbone = *lst->backbone()->encoder;
  auto& side = *lst->side_encoder->side;
  auto weight = [](const Linear& l) { return l->weight.detach(); };
  // The columns side block 1's q reads are the rows side block 0's FFN output kept (the chain).
  const auto wo_sets = submatrix_sets(weight(side.blocks[0]->feed_forward->DenseReluDense->wo),
                                      weight(backbone.blocks[0]->feed_forward->DenseReluDense->wo));
  auto& self_attention = *side.blocks[1]->self_attention->SelfAttention;
  auto& backbone_attention = *backbone.blocks[1]->self_attention->SelfAttention;
  const auto q_sets = submatrix_sets(weight(self_attention.q), weight(backbone_attention.q));
  EXPECT_EQ(q_sets.second, wo_sets.first) << "block 1's q does not read the columns block 0 kept";
  // Its rows are the 16 of largest L1 norm of |q| * |k| * |v| restricted to those columns
  // (magnitude importance), in ascending order.
  const torch::Tensor C = torch::tensor(q_sets.second, torch::kLong);
  torch::Tensor score = weight(backbone_attention.q).abs() * weight(backbone_attention.k).abs() *
                        weight(backbone_attention.v).abs();
  std::vector<double> norms;
  for (int64_t i = 0; i < score.size(0); ++i) norms.push_back(score[i].index_select(0, C).to(torch::kDouble).sum().item<double>());
  std::vector<int64_t> order(norms.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return norms[a] > norms[b]; });
  std::vector<int64_t> top(order.begin(), order.begin() + 16);
  std::sort(top.begin(), top.end());
  EXPECT_EQ(q_sets.first, top) << "the kept q rows are not the top-L1 set";
  // A reduction of 4 keeps a quarter: not just the first 16 rows.
  std::vector<int64_t> first(16);
  std::iota(first.begin(), first.end(), 0);
  EXPECT_NE(q_sets.first, first);
}

TEST(LstSaveLoad, RoundTripGivesIdenticalLogitsAndRejectsOtherBackbones) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model, {{"side_init", "random"}}, 7);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : lst->named_trainable()) p.add_(torch::randn_like(p) * 0.05);
  }
  lst->set_training(false);
  Seq2SeqBatch batch = golden_batch("t5-tiny-v1_0");
  torch::Tensor before = lst->forward(batch).logits.detach();
  test::TempDir temp;
  const std::string dir = temp.path().string();
  save_method(*lst, dir);
  EXPECT_TRUE(std::filesystem::exists(dir + "/adapter_config.json"));
  auto loaded = load_method(load_model(test::fixture_dir("t5-tiny-v1_0")).model, dir);
  loaded->set_training(false);
  EXPECT_TRUE(torch::equal(loaded->forward(batch).logits, before));
  EXPECT_THROW(load_method(load_model(test::fixture_dir("t5-tiny-v1_1")).model, dir), LoadError);
}

TEST(LstGeneration, CachedEqualsRecomputed) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_1")).model, {{"side_init", "magnitude"}, {"reduction", 2}}, 3);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : lst->named_trainable()) p.add_(torch::randn_like(p) * 0.5);
  }
  lst->set_training(false);
  Seq2SeqBatch batch = golden_batch("t5-tiny-v1_1");
  GenerationOptions options;
  options.max_new_tokens = 8;
  auto cached = lst->start_decoding(batch, true);
  torch::Tensor with_cache = greedy_generate(*cached, 3, lst->config(), options, torch::kCPU);
  auto fresh = lst->start_decoding(batch, false);
  torch::Tensor without_cache = greedy_generate(*fresh, 3, lst->config(), options, torch::kCPU);
  EXPECT_EQ(with_cache.size(1), 9);
  EXPECT_TRUE(torch::equal(with_cache, without_cache)) << with_cache << without_cache;
  // The greedy first token is the argmax of the teacher-forced logits at position 0.
  Seq2SeqBatch first = batch;
  first.labels = torch::Tensor();
  first.decoder_input_ids = torch::zeros({3, 1}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(lst->forward(first).logits.argmax(-1).squeeze(1), with_cache.select(1, 1)));
}

TEST(LstTraining, HundredStepsLowerTheLossOnACopyTask) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model, {{"side_init", "magnitude"}, {"reduction", 2}}, 1);
  torch::manual_seed(0);
  torch::Tensor ids = torch::randint(3, 60, {16, 6}, torch::kLong);
  Seq2SeqBatch batch;
  batch.input_ids = ids;
  batch.attention_mask = torch::ones_like(ids);
  batch.labels = torch::cat({ids.slice(1, 0, 3), torch::ones({16, 1}, torch::kLong)}, 1);  // copy 3 tokens, eos
  torch::optim::AdamW optimizer(lst->trainable_parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0));
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = lst->forward(batch).loss;
    loss.backward();
    optimizer.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.3 * first) << "first " << first << " last " << last;
}

TEST(LstPrecision, Bf16BackboneKeepsBf16LadderInputsAndFp32SideWeights) {
  ModelOptions model_options;
  model_options.dtype = torch::kBFloat16;
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0"), model_options).model, {{"side_init", "magnitude"}}, 0,
                  torch::kBFloat16);
  Seq2SeqBatch batch = golden_batch("t5-tiny-v1_0");
  auto states = lst->run_backbone_encoder(batch.input_ids, batch.attention_mask);
  EXPECT_EQ(states.ladder_inputs[0].scalar_type(), torch::kBFloat16);
  for (auto& [name, p] : lst->named_trainable()) EXPECT_EQ(p.scalar_type(), torch::kFloat) << name;
  Seq2SeqOutput out = lst->forward(batch);
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
  out.loss.backward();
  EXPECT_TRUE(lst->upsample->weight.grad().defined());
}

TEST(LstLowRankLadders, CountNamesInitialScaleAndRoundTrip) {
  // t5-base: 9 + 9 dense ladders of 768 x 96 (+ bias) are 1.33M of LST's 3.88M parameters.
  auto dense = make(T5ForConditionalGeneration(T5Config::builtin("t5-base")), {{"side_init", "random"}});
  auto low = make(T5ForConditionalGeneration(T5Config::builtin("t5-base")), {{"side_init", "random"}, {"ladder_rank", 16}});
  const int64_t per_dense = 768 * 96 + 96, per_low = 16 * 768 + 96 * 16 + 96;
  EXPECT_EQ(dense->trainable_count() - low->trainable_count(), 18 * (per_dense - per_low));
  std::set<std::string> names;
  for (auto& [name, p] : low->named_trainable()) names.insert(name);
  EXPECT_TRUE(names.count("side_encoder.ladder.0.down.weight"));
  EXPECT_TRUE(names.count("side_decoder.ladder.8.up.bias"));
  EXPECT_FALSE(names.count("side_encoder.ladder.0.weight"));
  EXPECT_EQ(low->settings()["ladder_rank"], 16);
  EXPECT_THROW(make(T5ForConditionalGeneration(T5Config::builtin("t5-small")), {{"ladder_rank", -1}}), UsageError);

  // At initialisation a low-rank rung's output has the dense rung's scale (within 15%).
  const T5Config small = T5Config::builtin("t5-small");
  torch::Tensor h = torch::randn({64, small.d_model});
  auto dense_small = make(T5ForConditionalGeneration(small), {{"side_init", "random"}}, 5);
  auto low_small = make(T5ForConditionalGeneration(small), {{"side_init", "random"}, {"ladder_rank", 8}}, 5);
  torch::NoGradGuard no_grad;
  const double dense_std = dense_small->side_encoder->rung(0, h).std().item<double>();
  const double low_std = low_small->side_encoder->rung(0, h).std().item<double>();
  EXPECT_NEAR(low_std / dense_std, 1.0, 0.15) << dense_std << " vs " << low_std;

  // Saved and loaded like dense ladders.
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model, {{"side_init", "random"}, {"ladder_rank", 2}}, 7);
  for (auto& [name, p] : lst->named_trainable()) p.add_(torch::randn_like(p) * 0.05);
  lst->set_training(false);
  Seq2SeqBatch batch = golden_batch("t5-tiny-v1_0");
  torch::Tensor before = lst->forward(batch).logits;
  test::TempDir temp;
  save_method(*lst, temp.path().string());
  auto loaded = load_method(load_model(test::fixture_dir("t5-tiny-v1_0")).model, temp.path().string());
  loaded->set_training(false);
  EXPECT_TRUE(torch::equal(loaded->forward(batch).logits, before));
}

TEST(LstLowRankLadders, TrainingLowersTheLoss) {
  auto lst = make(load_model(test::fixture_dir("t5-tiny-v1_0")).model,
                  {{"side_init", "magnitude"}, {"reduction", 2}, {"ladder_rank", 4}}, 1);
  torch::manual_seed(0);
  torch::Tensor ids = torch::randint(3, 60, {16, 6}, torch::kLong);
  Seq2SeqBatch batch;
  batch.input_ids = ids;
  batch.attention_mask = torch::ones_like(ids);
  batch.labels = torch::cat({ids.slice(1, 0, 3), torch::ones({16, 1}, torch::kLong)}, 1);
  torch::optim::AdamW optimizer(lst->trainable_parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0));
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = lst->forward(batch).loss;
    loss.backward();
    // Both factors of every low-rank ladder learn.
    if (step == 0)
      for (auto& [name, p] : lst->named_trainable())
        if (name.find(".down.") != std::string::npos || name.find(".up.weight") != std::string::npos)
          EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << name;
    optimizer.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.3 * first) << "first " << first << " last " << last;
}

}  // namespace
}  // namespace ladder
