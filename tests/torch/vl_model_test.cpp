// Vision-language models (docs/lst-design.md §10) on the tiny fixture T5 with random visual
// features: LST keeps the visual tokens out of the frozen backbone (zero ladders at their
// positions, text-only relative bias), the baselines feed them to the backbone encoder and train
// the visual embedding, padding stays masked for text and visual queries, decoding sessions
// reorder their rows correctly (greedy = beam with one beam, cached = uncached), a VL LST method
// round-trips through save/load, and `ladder bench memory --visual-tokens` runs.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "../core/expect_error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/lst.h"
#include "ladder/methods/method.h"
#include "ladder/models/generate.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "test_util.h"

namespace ladder {
namespace {

constexpr int64_t kFeatureDim = 16;

std::string fixture() { return test::fixture_dir("t5-tiny-v1_0"); }

T5ForConditionalGeneration fixture_backbone() {
  auto model = load_model(fixture()).model;
  model->eval();
  return model;
}

nlohmann::json settings_for(const std::string& method) {
  if (method == "lst")
    return {{"side_init", "random"}, {"reduction", 4}, {"encoder_layers", {0, 1}}, {"decoder_layers", {0, 1}},
            {"backbone_dropout", false}};
  if (method == "prompt") return {{"num_virtual_tokens", 3}};
  return nlohmann::json::object();
}

std::unique_ptr<FineTuningMethod> build(const std::string& method, uint64_t seed = 0) {
  MethodOptions options;
  options.name = method;
  options.settings = settings_for(method);
  options.seed = seed;
  options.visual.feature_dim = kFeatureDim;
  options.visual.images = 2;
  auto m = make_method(fixture_backbone(), options);
  m->set_training(false);
  return m;
}

// Moves every trainable tensor off its initialisation (LoRA's B = 0, LST's 0.01-scale
// upsample), so that the method, not the backbone alone, decides the outputs.
void scramble(FineTuningMethod& method, uint64_t seed, double scale = 0.3) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, t] : method.named_trainable()) t.add_(torch::randn(t.sizes(), gen) * scale);
}

// B examples of V visual tokens; with two_images the first half is image 0 and the second
// image 1 (NLVR2), object order counting from 0 in each.
VisualInput make_visual(int64_t B, int64_t V, uint64_t seed, bool two_images = true) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  VisualInput v;
  v.features = torch::randn({B, V, kFeatureDim}, gen);
  v.boxes = std::get<0>(torch::rand({B, V, 2, 2}, gen).sort(-1)).reshape({B, V, 4});
  if (two_images) {
    const int64_t half = (V + 1) / 2;
    torch::Tensor pos = torch::arange(V, torch::kLong);
    torch::Tensor second = pos >= half;
    v.image_order = second.to(torch::kLong).unsqueeze(0).expand({B, V}).contiguous();
    v.object_order = torch::where(second, pos - half, pos).unsqueeze(0).expand({B, V}).contiguous();
  }
  return v;
}

constexpr int64_t kSource = 7;
constexpr int64_t kPadded = 2;  // row 1 ends in two padding tokens

// Two rows of kSource tokens (row 1 padded at the end) and four labels, with V visual tokens.
Seq2SeqBatch vl_batch(int64_t V, uint64_t visual_seed = 1, uint64_t seed = 11) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  Seq2SeqBatch batch;
  batch.input_ids = torch::randint(3, 1000, {2, kSource}, gen, torch::kLong);
  batch.attention_mask = torch::ones_like(batch.input_ids);
  using torch::indexing::Slice;
  batch.input_ids.index_put_({1, Slice(kSource - kPadded, torch::indexing::None)}, 0);
  batch.attention_mask.index_put_({1, Slice(kSource - kPadded, torch::indexing::None)}, 0);
  batch.labels = torch::randint(3, 1000, {2, 4}, gen, torch::kLong);
  batch.visual = make_visual(2, V, visual_seed);
  return batch;
}

Seq2SeqBatch with_features(Seq2SeqBatch batch, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  batch.visual.features = torch::randn(batch.visual.features.sizes(), gen);
  return batch;
}

std::vector<std::pair<std::string, torch::Tensor>> visual_parameters(FineTuningMethod& method) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : method.backbone()->visual_embedding->named_parameters())
    out.emplace_back("encoder.visual_embedding." + item.key(), item.value());
  return out;
}

// ---- LST: the backbone never sees a visual token, the side network does ----

TEST(VlLst, BackboneNeverSeesVisualTokens) {
  auto method = build("lst");
  scramble(*method, 5);
  auto& lst = dynamic_cast<LstMethod&>(*method);
  const Seq2SeqBatch a = vl_batch(6), b = with_features(a, 99);
  Seq2SeqBatch text_only = a;
  text_only.visual = {};
  const LadderStates sa = lst.backbone_states(a), sb = lst.backbone_states(b), st = lst.backbone_states(text_only);
  ASSERT_EQ(sa.encoder.size(), 2u);
  ASSERT_EQ(sa.decoder.size(), 2u);
  for (size_t j = 0; j < sa.encoder.size(); ++j) {
    EXPECT_EQ(sa.encoder[j].size(1), kSource) << "the backbone encoder ran over more than the text";
    EXPECT_TRUE(torch::equal(sa.encoder[j], sb.encoder[j])) << "encoder ladder " << j << " depends on the features";
    EXPECT_TRUE(torch::equal(sa.encoder[j], st.encoder[j])) << "encoder ladder " << j << " differs from text-only";
  }
  for (size_t j = 0; j < sa.decoder.size(); ++j) {
    EXPECT_TRUE(torch::equal(sa.decoder[j], sb.decoder[j])) << "decoder ladder " << j << " depends on the features";
    EXPECT_TRUE(torch::equal(sa.decoder[j], st.decoder[j])) << "decoder ladder " << j << " differs from text-only";
  }
  LstMethod::BackboneStates enc = lst.run_backbone_encoder(a.input_ids, a.attention_mask);
  EXPECT_EQ(enc.output.size(1), kSource);

  // The side network reads the features: logits and loss move with them.
  const Seq2SeqOutput oa = lst.forward(a), ob = lst.forward(b), ot = lst.forward(text_only);
  EXPECT_GT(test::max_abs_diff(oa.logits, ob.logits), 1e-3);
  EXPECT_GT(test::max_abs_diff(oa.logits, ot.logits), 1e-3);
  EXPECT_NE(oa.loss.item<double>(), ob.loss.item<double>());
  // ... and the visual embedding trains through it, while the backbone gets nothing.
  oa.loss.backward();
  for (auto& [name, p] : visual_parameters(lst)) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
  for (auto& item : lst.backbone()->named_parameters())
    if (item.key().rfind("encoder.visual_embedding.", 0) != 0) EXPECT_FALSE(item.value().grad().defined()) << item.key();
}

// The authors' visual stream: before side block j, s = mu_j * s + (1 - mu_j) * [ladder_j(h_j) ; 0]:
// the visual positions get the gated side stream alone, whatever the ladders carry.
TEST(VlLst, VisualPositionsGetNoLadderSignal) {
  MethodOptions options;
  options.name = "lst";
  options.settings = settings_for("lst");
  options.settings["visual_stream"] = "authors";
  options.visual.feature_dim = kFeatureDim;
  auto method = make_method(fixture_backbone(), options);
  method->set_training(false);
  scramble(*method, 6);
  auto& lst = dynamic_cast<LstMethod&>(*method);
  SideStackImpl& side = *lst.side_encoder;
  ASSERT_EQ(side.kept, (std::vector<int64_t>{0, 1}));
  {
    // Rungs with biases and gates away from 1/2, so a padded input (rather than a padded
    // output) or an ungated visual stream would show.
    torch::NoGradGuard no_grad;
    for (size_t j = 0; j < side.kept.size(); ++j) {
      auto* rung = side.ladder[j]->as<LinearImpl>();
      ASSERT_NE(rung, nullptr);
      rung->bias.normal_(0.0, 0.5);
    }
    side.gate.copy_(torch::tensor({-0.07, 0.12}));
  }
  const int64_t B = 2, L = 5, V = 4, d = lst.config().d_model;
  torch::Generator gen = at::detail::createCPUGenerator(21);
  torch::Tensor embeddings = torch::randn({B, L + V, d}, gen);
  std::vector<torch::Tensor> ladders = {torch::randn({B, L, d}, gen), torch::randn({B, L, d}, gen)};
  torch::Tensor mask = torch::ones({B, L + V}, torch::kLong);
  mask.index_put_({1, L - 1}, 0);
  torch::NoGradGuard no_grad;
  const torch::Tensor out = side.forward(embeddings, ladders, mask, {}, {});
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{B, L + V, d / 4}));

  // By hand: zero ladder signal past L, the relative bias among the first L positions only.
  torch::Tensor s = side.first_downsample->forward(embeddings);
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = s;
  inputs.attention_mask = mask;
  inputs.biased_length = L;
  const torch::Tensor bias = side.side->self_bias(inputs, 0);
  for (size_t j = 0; j < side.kept.size(); ++j) {
    const torch::Tensor mu = torch::sigmoid(side.gate[side.kept[j]] / side.temperature);
    const torch::Tensor signal = torch::cat({side.rung(j, ladders[j]), torch::zeros({B, V, s.size(2)})}, 1);
    s = mu * s + (1 - mu) * signal;
    s = side.side->blocks[j]->forward(s, bias, {}, {}, nullptr);
  }
  EXPECT_LT(test::max_abs_diff(out, side.side->final_layer_norm->forward(s)), 1e-5);

  // Independently of that recipe: with every text key masked, a visual query reads visual
  // positions only, so the ladders (all of them text-aligned) must not reach it at all.
  torch::Tensor visual_keys = torch::cat({torch::zeros({B, L}, torch::kLong), torch::ones({B, V}, torch::kLong)}, 1);
  std::vector<torch::Tensor> other = {torch::randn({B, L, d}, gen) * 3, torch::randn({B, L, d}, gen) * 3};
  const torch::Tensor o1 = side.forward(embeddings, ladders, visual_keys, {}, {});
  const torch::Tensor o2 = side.forward(embeddings, other, visual_keys, {}, {});
  using torch::indexing::Slice;
  EXPECT_LT(test::max_abs_diff(o1.index({Slice(), Slice(L, torch::indexing::None)}),
                               o2.index({Slice(), Slice(L, torch::indexing::None)})),
            1e-6);
  EXPECT_GT(test::max_abs_diff(o1.index({Slice(), Slice(0, L)}), o2.index({Slice(), Slice(0, L)})), 1e-3);
}

// ladder's visual stream (the default): the gates mix the text positions only; before side
// block 0 each row's visual positions are scaled to the RMS of its text positions (padding
// left out), so the ladder-fed text stream does not swamp them.
TEST(VlLst, ScaledVisualStreamStartsAtTheTextScaleAndSkipsTheGates) {
  auto method = build("lst");
  ASSERT_EQ(method->settings()["visual_stream"], "scaled");
  scramble(*method, 6);
  SideStackImpl& side = *dynamic_cast<LstMethod&>(*method).side_encoder;
  {
    torch::NoGradGuard no_grad;
    side.gate.copy_(torch::tensor({-0.07, 0.12}));
  }
  const int64_t B = 2, L = 5, V = 4, d = dynamic_cast<LstMethod&>(*method).config().d_model;
  torch::Generator gen = at::detail::createCPUGenerator(22);
  torch::Tensor embeddings = torch::randn({B, L + V, d}, gen);
  std::vector<torch::Tensor> ladders = {torch::randn({B, L, d}, gen) * 30, torch::randn({B, L, d}, gen) * 30};
  torch::Tensor mask = torch::ones({B, L + V}, torch::kLong);
  mask.index_put_({1, L - 1}, 0);
  torch::NoGradGuard no_grad;
  const torch::Tensor out = side.forward(embeddings, ladders, mask, {}, {});

  using torch::indexing::None;
  using torch::indexing::Slice;
  torch::Tensor s = side.first_downsample->forward(embeddings);
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = s;
  inputs.attention_mask = mask;
  inputs.biased_length = L;
  const torch::Tensor bias = side.side->self_bias(inputs, 0);
  for (size_t j = 0; j < side.kept.size(); ++j) {
    const torch::Tensor mu = torch::sigmoid(side.gate[side.kept[j]] / side.temperature);
    torch::Tensor text = mu * s.index({Slice(), Slice(0, L)}) + (1 - mu) * side.rung(j, ladders[j]);
    torch::Tensor visual = s.index({Slice(), Slice(L, None)});
    if (j == 0)
      for (int64_t b = 0; b < B; ++b) {
        const int64_t valid = b == 1 ? L - 1 : L;  // row 1's last text position is padding
        const double text_rms = text[b].narrow(0, 0, valid).pow(2).mean().sqrt().item<double>();
        const double visual_rms = visual[b].pow(2).mean().sqrt().item<double>();
        visual.index_put_({b}, visual[b] * (text_rms / visual_rms));
      }
    s = side.side->blocks[j]->forward(torch::cat({text, visual}, 1), bias, {}, {}, nullptr);
  }
  EXPECT_LT(test::max_abs_diff(out, side.side->final_layer_norm->forward(s)), 1e-5);
}

// ---- masks and the relative bias ----

TEST(VlMasks, RelativeBiasOnlyAmongTextPositions) {
  auto model = fixture_backbone();
  T5StackImpl& encoder = *model->encoder;
  const int64_t B = 2, L = 5, V = 3, d = model->config.d_model;
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = torch::zeros({B, L + V, d});
  inputs.attention_mask = torch::ones({B, L + V}, torch::kLong);
  inputs.attention_mask.index_put_({1, 3}, 0);
  inputs.biased_length = L;
  const torch::Tensor bias = encoder.self_bias(inputs, 0);
  ASSERT_EQ(bias.size(2), L + V);
  ASSERT_EQ(bias.size(3), L + V);
  const torch::Tensor masks = additive_mask(inputs.attention_mask, L + V, 0, false, torch::kFloat).expand_as(bias);
  const torch::Tensor position = encoder.blocks[0]->self_attention->SelfAttention->compute_bias(L, L, 0, torch::kCPU);
  ASSERT_GT(position.abs().max().item<double>(), 0.0);
  using torch::indexing::Slice;
  const auto text = Slice(0, L), visual = Slice(L, torch::indexing::None), all = Slice();
  EXPECT_LT(test::max_abs_diff(bias.index({all, all, text, text}),
                               (position + masks.index({all, all, text, text})).expand({B, -1, L, L})),
            1e-6);
  // Rows and columns of visual positions: the mask and nothing else.
  EXPECT_TRUE(torch::equal(bias.index({all, all, visual, all}), masks.index({all, all, visual, all})));
  EXPECT_TRUE(torch::equal(bias.index({all, all, all, visual}), masks.index({all, all, all, visual})));
  // The text block is what a text-only input of length L gets.
  T5StackImpl::Inputs text_only;
  text_only.inputs_embeds = torch::zeros({B, L, d});
  text_only.attention_mask = inputs.attention_mask.index({all, text});
  EXPECT_TRUE(torch::equal(bias.index({all, all, text, text}), encoder.self_bias(text_only, 0)));

  // The model marks the text (prompt included) as the biased part.
  const Seq2SeqBatch batch = vl_batch(6);
  EncoderInput in = model->encoder_input(batch.input_ids, batch.attention_mask, {});
  EXPECT_EQ(in.text_length, kSource);
  auto prompt = build("prompt");
  in = prompt->backbone()->encoder_input(batch.input_ids, batch.attention_mask, batch.visual);
  EXPECT_EQ(in.text_length, 3 + kSource);
  EXPECT_EQ(in.embeds.size(1), 3 + kSource + 6);
  EXPECT_EQ(in.mask.size(1), 3 + kSource + 6);
}

// Changing the id of a padded text token changes nothing: padding is masked for the text
// queries and for the visual ones (LST's side encoder and the baselines' backbone encoder).
TEST(VlMasks, PaddedTextTokenIsMaskedForTextAndVisualQueries) {
  for (const std::string name : {"lst", "full", "prompt"}) {
    auto method = build(name);
    scramble(*method, 7);
    const Seq2SeqBatch a = vl_batch(6);
    Seq2SeqBatch b = a;
    b.input_ids = a.input_ids.clone();
    b.input_ids.index_put_({1, kSource - 1}, 777);
    torch::NoGradGuard no_grad;
    EXPECT_LT(test::max_abs_diff(method->forward(a).logits, method->forward(b).logits), 1e-5) << name;
    using torch::indexing::Slice;
    if (name == "lst") {
      auto& lst = dynamic_cast<LstMethod&>(*method);
      auto side_output = [&](const Seq2SeqBatch& batch) {
        LstMethod::BackboneStates enc = lst.run_backbone_encoder(batch.input_ids, batch.attention_mask);
        LstMethod::SideEncoderInput in = lst.side_encoder_input(enc.embeddings, batch.attention_mask, batch.visual);
        EXPECT_EQ(in.mask.size(1), kSource + 6);
        return lst.side_encoder->forward(in.embeddings, enc.ladder_inputs, in.mask, {}, {});
      };
      const torch::Tensor sa = side_output(a), sb = side_output(b);
      // Every unpadded position (the visual ones included) is unchanged.
      EXPECT_LT(test::max_abs_diff(sa.index({Slice(), Slice(kSource, torch::indexing::None)}),
                                   sb.index({Slice(), Slice(kSource, torch::indexing::None)})),
                1e-6);
      EXPECT_LT(test::max_abs_diff(sa.index({1, Slice(0, kSource - kPadded)}), sb.index({1, Slice(0, kSource - kPadded)})),
                1e-6);
    } else {
      auto& model = *method->backbone();
      const EncoderInput ia = model.encoder_input(a.input_ids, a.attention_mask, a.visual);
      const EncoderInput ib = model.encoder_input(b.input_ids, b.attention_mask, b.visual);
      const torch::Tensor ea = model.encode(ia).last_hidden_state, eb = model.encode(ib).last_hidden_state;
      const int64_t text = ia.text_length;
      EXPECT_LT(test::max_abs_diff(ea.index({Slice(), Slice(text, torch::indexing::None)}),
                                   eb.index({Slice(), Slice(text, torch::indexing::None)})),
                1e-6)
          << name;
      EXPECT_LT(test::max_abs_diff(ea.index({1, Slice(0, text - kPadded)}), eb.index({1, Slice(0, text - kPadded)})), 1e-6)
          << name;
    }
  }
}

// ---- the baselines: visual tokens through the backbone, the visual embedding trains ----

TEST(VlBaselines, VisualEmbeddingTrainsAndFeedsTheEncoder) {
  for (const std::string name : {"lora", "adapter", "full", "prompt", "bitfit"}) {
    auto method = build(name);
    scramble(*method, 8, 0.05);
    std::set<std::string> names;
    for (auto& [n, t] : method->named_trainable()) EXPECT_TRUE(names.insert(n).second) << name << ": " << n << " twice";
    const auto visual = visual_parameters(*method);
    ASSERT_EQ(visual.size(), 7u) << name;  // feat Linear (2) + norm, pos Linear (2) + norm, image order
    for (auto& [n, t] : visual) EXPECT_TRUE(names.count(n)) << name << ": " << n << " not trainable";

    const Seq2SeqBatch a = vl_batch(8), b = with_features(a, 98);
    method->set_training(true);
    Seq2SeqOutput out = method->forward(a);
    ASSERT_TRUE(std::isfinite(out.loss.item<double>())) << name;
    out.loss.backward();
    for (auto& [n, p] : visual) {
      ASSERT_TRUE(p.grad().defined()) << name << ": " << n;
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0) << name << ": " << n;
    }
    // Both image-order rows are used (NLVR2's two images).
    const torch::Tensor order_grad = method->backbone()->visual_embedding->img_order_embedding->weight.grad();
    EXPECT_GT(order_grad[0].abs().sum().item<double>(), 0.0) << name;
    EXPECT_GT(order_grad[1].abs().sum().item<double>(), 0.0) << name;

    method->set_training(false);
    torch::NoGradGuard no_grad;
    auto& model = *method->backbone();
    const EncoderInput ia = model.encoder_input(a.input_ids, a.attention_mask, a.visual);
    const EncoderInput ib = model.encoder_input(b.input_ids, b.attention_mask, b.visual);
    const torch::Tensor ea = model.encode(ia).last_hidden_state, eb = model.encode(ib).last_hidden_state;
    using torch::indexing::Slice;
    // The text positions attend to the visual tokens.
    EXPECT_GT(test::max_abs_diff(ea.index({Slice(), Slice(0, ia.text_length)}), eb.index({Slice(), Slice(0, ib.text_length)})),
              1e-4)
        << name;
    EXPECT_GT(test::max_abs_diff(method->forward(a).logits, method->forward(b).logits), 1e-4) << name;
  }
}

// ---- decoding ----

// The model's own score of generated rows [B, 1 + T] (start token first): summed log-probability
// of the tokens up to and including the first eos, over their number (length penalty 1).
std::vector<double> own_scores(FineTuningMethod& method, const Seq2SeqBatch& inputs, const torch::Tensor& generated) {
  using torch::indexing::Slice;
  torch::NoGradGuard no_grad;
  Seq2SeqBatch batch = inputs;
  batch.labels = torch::Tensor();
  batch.decoder_input_ids = generated.index({Slice(), Slice(0, -1)});
  const torch::Tensor logp = torch::log_softmax(method.forward(batch).logits.to(torch::kDouble), -1);
  const torch::Tensor tokens = generated.index({Slice(), Slice(1, torch::indexing::None)});
  const torch::Tensor token_logp = logp.gather(2, tokens.unsqueeze(2)).squeeze(2);
  std::vector<double> scores;
  for (int64_t b = 0; b < generated.size(0); ++b) {
    double sum = 0;
    int64_t n = 0;
    for (int64_t t = 0; t < tokens.size(1); ++t) {
      sum += token_logp[b][t].item<double>();
      ++n;
      if (tokens[b][t].item<int64_t>() == method.config().eos_token_id) break;
    }
    scores.push_back(sum / static_cast<double>(n));
  }
  return scores;
}

TEST(VlGeneration, CachedEqualsUncachedAndBeamSearchHoldsTogether) {
  for (const std::string name : {"lst", "lora"}) {
    auto method = build(name);
    scramble(*method, 9, name == "lst" ? 0.5 : 0.05);
    Seq2SeqBatch inputs = vl_batch(7);
    inputs.labels = torch::Tensor();
    const int64_t B = inputs.input_ids.size(0);
    auto run = [&](bool cache, int64_t beams, bool force_beam = false) {
      GenerationOptions options;
      options.max_new_tokens = 6;
      options.use_cache = cache;
      options.num_beams = beams;
      auto session = method->start_decoding(inputs, cache);
      return force_beam ? beam_generate(*session, B, method->config(), options, torch::kCPU)
                        : generate(*session, B, method->config(), options, torch::kCPU);
    };
    const torch::Tensor greedy = run(true, 1);
    EXPECT_TRUE(torch::equal(greedy, run(false, 1))) << name << ": cached greedy differs from uncached";
    EXPECT_TRUE(torch::equal(greedy, run(true, 1, true))) << name << ": one beam differs from greedy";
    const torch::Tensor beam = run(true, 3);
    EXPECT_TRUE(torch::equal(beam, run(false, 3))) << name << ": cached beam search differs from uncached\n"
                                                   << beam << "\n" << run(false, 3);
    const std::vector<double> beam_scores = own_scores(*method, inputs, beam), greedy_scores = own_scores(*method, inputs, greedy);
    for (int64_t b = 0; b < B; ++b)
      EXPECT_GE(beam_scores[b], greedy_scores[b] - 1e-6) << name << " row " << b << "\n" << beam << "\n" << greedy;
  }
}

// reorder(rows) keeps rows `rows` of every per-row state: after two steps and a reorder, the
// next logits are those of a fresh session on the reordered inputs.
TEST(VlGeneration, ReorderFollowsTheRows) {
  for (const std::string name : {"lst", "adapter"}) {
    auto method = build(name);
    scramble(*method, 10, name == "lst" ? 0.5 : 0.05);
    Seq2SeqBatch inputs = vl_batch(6);
    inputs.labels = torch::Tensor();
    const torch::Tensor rows = torch::tensor({1, 0, 1}, torch::kLong);
    Seq2SeqBatch reordered;
    reordered.input_ids = inputs.input_ids.index_select(0, rows);
    reordered.attention_mask = inputs.attention_mask.index_select(0, rows);
    reordered.visual = visual_rows(inputs.visual, rows);
    const torch::Tensor ids = torch::tensor({{0, 5, 17}, {0, 9, 4}}, torch::kLong);
    const torch::Tensor ids_reordered = torch::cat({ids.index_select(0, rows), torch::tensor({{3}, {8}, {12}})}, 1);
    for (const bool cache : {true, false}) {
      torch::NoGradGuard no_grad;
      using torch::indexing::Slice;
      auto session = method->start_decoding(inputs, cache);
      for (int64_t t = 1; t <= ids.size(1); ++t) session->next_logits(ids.index({Slice(), Slice(0, t)}));
      session->reorder(rows);
      const torch::Tensor got = session->next_logits(ids_reordered);
      auto fresh = method->start_decoding(reordered, false);
      const torch::Tensor want = fresh->next_logits(ids_reordered);
      EXPECT_LT(test::max_abs_diff(got, want), 1e-4) << name << (cache ? " cached" : " uncached");
    }
  }
}

// ---- save / load ----

// Feature statistics travel in adapter_config.json: a reloaded method reads the features as
// the trained one did, and bad statistics are refused with the file's name.
TEST(VlSaveLoad, FeatureStatisticsRoundTripAndChangeTheOutput) {
  MethodOptions options;
  options.name = "lst";
  options.settings = settings_for("lst");
  options.visual.feature_dim = kFeatureDim;
  for (int64_t i = 0; i < kFeatureDim; ++i) {
    options.visual.feature_mean.push_back(0.1f * static_cast<float>(i % 3));
    options.visual.feature_std.push_back(0.5f + 0.25f * static_cast<float>(i % 4));
  }
  auto method = make_method(fixture_backbone(), options);
  method->set_training(false);
  test::TempDir dir;
  const std::string out = dir / "lst";
  save_method(*method, out);
  const nlohmann::json config = read_json_file(out + "/ladder_config.json");
  EXPECT_EQ(config["visual"]["feature_mean"].size(), static_cast<std::size_t>(kFeatureDim));
  auto loaded = load_method(fixture_backbone(), out);
  loaded->set_training(false);
  EXPECT_EQ(loaded->visual_config().feature_std, options.visual.feature_std);
  const Seq2SeqBatch batch = vl_batch(9);
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = method->forward(batch).logits;
  EXPECT_LT(test::max_abs_diff(logits, loaded->forward(batch).logits), 1e-6);
  // The same weights without the statistics read other features.
  MethodOptions raw = options;
  raw.visual.feature_mean.clear();
  raw.visual.feature_std.clear();
  auto unscaled = make_method(fixture_backbone(), raw);
  unscaled->set_training(false);
  EXPECT_GT(test::max_abs_diff(logits, unscaled->forward(batch).logits), 1e-4);

  nlohmann::json bad = config;
  bad["visual"]["feature_std"][0] = 0.0;
  write_json_atomically(out + "/ladder_config.json", bad);
  std::string message = test::error_of<Error>([&] { load_method(fixture_backbone(), out); });
  EXPECT_TRUE(test::contains(message, "deviation")) << message;
  EXPECT_TRUE(test::contains(message, "ladder_config.json")) << message;
  bad = config;
  bad["visual"]["feature_mean"].erase(0);
  write_json_atomically(out + "/ladder_config.json", bad);
  message = test::error_of<Error>([&] { load_method(fixture_backbone(), out); });
  EXPECT_TRUE(test::contains(message, "means")) << message;
}

TEST(VlSaveLoad, LstRoundTripRestoresTheVisualEmbedding) {
  auto method = build("lst", 4);
  scramble(*method, 12);  // the visual embedding moves off its (deterministic) initialisation
  test::TempDir dir;
  const std::string out = dir / "lst";
  save_method(*method, out);
  const nlohmann::json config = read_json_file(out + "/ladder_config.json");
  ASSERT_TRUE(config.contains("visual")) << config.dump(2);
  EXPECT_EQ(config["visual"]["feature_dim"], kFeatureDim);
  EXPECT_EQ(config["visual"]["images"], 2);
  const auto stored = read_safetensors(out + "/adapter_model.safetensors");
  for (auto& [n, t] : visual_parameters(*method)) EXPECT_TRUE(stored.count(n)) << n;
  EXPECT_FALSE(config["visual"].contains("feature_mean")) << "no statistics were given";

  auto loaded = load_method(fixture_backbone(), out);
  loaded->set_training(false);
  EXPECT_EQ(loaded->name(), "lst");
  EXPECT_EQ(loaded->visual_config().feature_dim, kFeatureDim);
  EXPECT_EQ(loaded->visual_config().images, 2);
  ASSERT_TRUE(loaded->backbone()->visual_embedding);
  const auto before = visual_parameters(*method), after = visual_parameters(*loaded);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_TRUE(torch::equal(before[i].second, after[i].second)) << before[i].first;
  }
  // A fresh method of the same seed has another visual embedding: the load did restore it.
  auto fresh = build("lst", 4);
  EXPECT_FALSE(torch::equal(visual_parameters(*fresh)[0].second, after[0].second));

  const Seq2SeqBatch batch = vl_batch(9);
  torch::NoGradGuard no_grad;
  EXPECT_LT(test::max_abs_diff(method->forward(batch).logits, loaded->forward(batch).logits), 1e-6);
  GenerationOptions options;
  options.max_new_tokens = 5;
  options.num_beams = 2;
  auto s1 = method->start_decoding(batch, true);
  auto s2 = loaded->start_decoding(batch, true);
  EXPECT_TRUE(torch::equal(generate(*s1, 2, method->config(), options, torch::kCPU),
                           generate(*s2, 2, loaded->config(), options, torch::kCPU)));
}

// ---- ladder bench memory --visual-tokens ----

TEST(VlBench, MemoryBenchWithVisualTokens) {
  test::TempDir dir;
  auto bench = [&](const std::vector<std::string>& extra, const std::string& json) {
    std::vector<std::string> args = {"bench",  "memory", "--model", fixture(), "--methods", "lst,adapter", "--batch", "2",
                                     "--src-len", "8", "--tgt-len", "3", "--warmup", "0", "--steps", "1",
                                     "--threads", "1", "--json", dir / json};
    args.insert(args.end(), extra.begin(), extra.end());
    test::CliResult r = test::run_cli(args, dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return std::make_pair(r, read_json_file(dir / json));
  };
  const auto [text_run, text] = bench({}, "text.json");
  const auto [vl_run, vl] = bench({"--visual-tokens", "6", "--feature-dim", "16"}, "vl.json");
  EXPECT_EQ(text["visual_tokens"], 0);
  EXPECT_EQ(vl["visual_tokens"], 6);
  EXPECT_EQ(vl["feature_dim"], 16);
  EXPECT_NE(vl_run.out.find("6 visual tokens x 16"), std::string::npos) << vl_run.out;
  EXPECT_EQ(text_run.out.find("visual tokens"), std::string::npos) << text_run.out;
  ASSERT_EQ(vl["records"].size(), 2u);
  const int64_t d = load_model(fixture()).model->config.d_model;
  // VL-T5's visual embedding: feat Linear(F) + norm, pos Linear(5) + norm, two image orders.
  const int64_t visual_count = (16 * d + d) + d + (5 * d + d) + d + 2 * d;
  for (size_t i = 0; i < 2; ++i) {
    const auto& r = vl["records"][i];
    EXPECT_EQ(r["visual_tokens"], 6);
    EXPECT_EQ(r["feature_dim"], 16);
    EXPECT_EQ(text["records"][i]["visual_tokens"], 0);
    EXPECT_EQ(r["trainable_parameters"].get<int64_t>() - text["records"][i]["trainable_parameters"].get<int64_t>(),
              visual_count)
        << r["method"];
    EXPECT_TRUE(std::isfinite(r["final_loss"].get<double>()));
    EXPECT_NE(r["final_loss"], text["records"][i]["final_loss"]) << r["method"] << ": the visual tokens changed nothing";
  }
  // Negative counts are refused before any child runs.
  test::CliResult bad = test::run_cli({"bench", "memory", "--model", fixture(), "--methods", "lst", "--visual-tokens", "-1"}, dir);
  EXPECT_NE(bad.status, 0);
}

}  // namespace
}  // namespace ladder
