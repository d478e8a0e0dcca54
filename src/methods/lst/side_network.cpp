// The side network of one stack (docs/lst-design.md §3-4) and the LST configuration.
#include <algorithm>

#include "ladder/error.h"
#include "ladder/methods/factories.h"
#include "ladder/methods/lst.h"

namespace ladder {

std::vector<int64_t> default_side_layers(int64_t num_layers) {
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < num_layers; ++i) {
    // The authors' lists: t5-base drops 0, 4, 8; t5-large keeps the odd layers.
    const bool keep = num_layers == 24 ? (i % 2 == 1) : (i % 4 != 0);
    if (keep) kept.push_back(i);
  }
  if (kept.empty()) kept.push_back(num_layers - 1);  // a 1-layer stack keeps its only layer
  return kept;
}

T5Config side_config(const T5Config& backbone, int64_t reduction) {
  T5Config side = backbone;
  side.d_model = backbone.d_model / reduction;
  side.d_kv = backbone.d_kv / reduction;
  side.d_ff = backbone.d_ff / reduction;
  // Buckets and max distance stay the backbone's (32 / 128 for every published T5), so the
  // backbone's block-0 bias table can seed the side's.
  side.layer_norm_epsilon = 1e-6;
  if (side.d_model <= 0 || side.d_kv <= 0 || side.d_ff <= 0)
    throw UsageError("LST reduction " + std::to_string(reduction) + " is too large for d_model " +
                     std::to_string(backbone.d_model) + ", d_kv " + std::to_string(backbone.d_kv) +
                     ", d_ff " + std::to_string(backbone.d_ff) + ": the largest that fits is " +
                     std::to_string(std::min({backbone.d_model, backbone.d_kv, backbone.d_ff})) +
                     " (--reduction or --settings '{\"reduction\": N}')");
  return side;
}

LstConfig LstConfig::from_json(const nlohmann::json& s) {
  check_setting_keys(s, {"reduction", "side_layers", "encoder_layers", "decoder_layers", "gate_temperature",
                         "gate_alpha_init", "backbone_dropout", "side_init", "fisher_samples", "cross_attention_columns", "ladder_rank",
                         "visual_stream"},
                     "lst");
  LstConfig c;
  try {
    c.reduction = s.value("reduction", c.reduction);
    if (s.contains("side_layers")) c.encoder_layers = c.decoder_layers = s["side_layers"].get<std::vector<int64_t>>();
    if (s.contains("encoder_layers")) c.encoder_layers = s["encoder_layers"].get<std::vector<int64_t>>();
    if (s.contains("decoder_layers")) c.decoder_layers = s["decoder_layers"].get<std::vector<int64_t>>();
    c.gate_temperature = s.value("gate_temperature", c.gate_temperature);
    c.gate_alpha_init = s.value("gate_alpha_init", c.gate_alpha_init);
    c.backbone_dropout = s.value("backbone_dropout", c.backbone_dropout);
    c.side_init = s.value("side_init", c.side_init);
    c.fisher_samples = s.value("fisher_samples", c.fisher_samples);
    c.cross_attention_columns = s.value("cross_attention_columns", c.cross_attention_columns);
    c.ladder_rank = s.value("ladder_rank", c.ladder_rank);
    c.visual_stream = s.value("visual_stream", c.visual_stream);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("lst: a setting has the wrong type (") + e.what() + ")");
  }
  if (c.reduction < 1) throw UsageError("lst: reduction must be >= 1");
  if (c.gate_temperature <= 0) throw UsageError("lst: gate_temperature must be positive");
  if (c.fisher_samples < 1) throw UsageError("lst: fisher_samples must be at least 1");
  if (c.ladder_rank < 0) throw UsageError("lst: ladder_rank must be 0 (dense ladders) or positive");
  if (c.cross_attention_columns != "decoder" && c.cross_attention_columns != "encoder")
    throw UsageError("lst: cross_attention_columns must be decoder (the authors') or encoder, found \"" +
                     c.cross_attention_columns + "\"");
  if (c.visual_stream != "scaled" && c.visual_stream != "authors")
    throw UsageError("lst: visual_stream must be scaled (ladder's) or authors, found \"" + c.visual_stream + "\"");
  if (c.side_init != "fisher" && c.side_init != "magnitude" && c.side_init != "random")
    throw UsageError("lst: side_init must be fisher, magnitude or random, found \"" + c.side_init + "\"");
  return c;
}

nlohmann::json LstConfig::to_json() const {
  return {{"reduction", reduction},           {"encoder_layers", encoder_layers},
          {"decoder_layers", decoder_layers}, {"gate_temperature", gate_temperature},
          {"gate_alpha_init", gate_alpha_init}, {"backbone_dropout", backbone_dropout},
          {"side_init", side_init},           {"fisher_samples", fisher_samples},
          {"cross_attention_columns", cross_attention_columns}, {"ladder_rank", ladder_rank},
          {"visual_stream", visual_stream}};
}

LowRankLadderImpl::LowRankLadderImpl(int64_t in, int64_t rank, int64_t out) {
  down = register_module("down", Linear(in, rank, false));
  up = register_module("up", Linear(rank, out, true));
}

torch::Tensor SideStackImpl::rung(size_t j, const torch::Tensor& h) {
  if (auto* dense = ladder[j]->as<LinearImpl>()) return dense->forward(h);
  return ladder[j]->as<LowRankLadderImpl>()->forward(h);
}

SideStackImpl::SideStackImpl(const T5Config& backbone, const T5Config& side_cfg, bool is_decoder,
                             int64_t backbone_layers, std::vector<int64_t> kept_layers, const LstConfig& lst)
    : kept(std::move(kept_layers)), temperature(lst.gate_temperature), dropout(side_cfg.dropout_rate),
      scale_visual(lst.visual_stream == "scaled") {
  if (kept.empty()) throw UsageError("lst: at least one side layer must be kept per stack");
  for (size_t j = 0; j < kept.size(); ++j) {
    if (kept[j] < 0 || kept[j] >= backbone_layers || (j > 0 && kept[j] <= kept[j - 1]))
      throw UsageError("lst: side layers must be increasing indices in [0, " + std::to_string(backbone_layers) +
                       "), found " + std::to_string(kept[j]));
  }
  first_downsample = register_module("first_downsample", Linear(backbone.d_model, side_cfg.d_model, true));
  for (size_t j = 0; j < kept.size(); ++j) {
    if (lst.ladder_rank > 0) ladder->push_back(LowRankLadder(backbone.d_model, lst.ladder_rank, side_cfg.d_model));
    else ladder->push_back(Linear(backbone.d_model, side_cfg.d_model, true));
  }
  register_module("ladder", ladder);
  gate = register_parameter("gate", torch::full({backbone_layers}, lst.gate_alpha_init));
  side = register_module("side", T5Stack(side_cfg, is_decoder, static_cast<int64_t>(kept.size())));
}

namespace {

// Per example [B, 1, 1]: the RMS of the text positions' stream (padding left out) over the
// RMS of the visual positions'. A constant of the batch (no gradient), so that the visual
// stream starts where the text stream is and training moves neither to chase the other.
torch::Tensor visual_scale(const torch::Tensor& text, const torch::Tensor& visual, const torch::Tensor& text_mask) {
  torch::NoGradGuard no_grad;
  torch::Tensor keep = text_mask.defined() ? text_mask.to(text.scalar_type()).unsqueeze(2)  // [B, L, 1]
                                           : torch::ones({text.size(0), text.size(1), 1}, text.options());
  torch::Tensor kept = keep.sum({1, 2});
  torch::Tensor text_ms = (text.pow(2) * keep).sum({1, 2}) / (kept * text.size(2)).clamp_min(1);
  torch::Tensor visual_ms = visual.pow(2).mean({1, 2});
  torch::Tensor ratio = (text_ms / visual_ms.clamp_min(1e-12)).sqrt();
  // A row without a text position (every text key masked) keeps its visual stream as it is.
  return torch::where(kept > 0, ratio, torch::ones_like(ratio)).view({-1, 1, 1});
}

}  // namespace

torch::Tensor SideStackImpl::forward(const torch::Tensor& embeddings, const std::vector<torch::Tensor>& ladder_inputs,
                                     const torch::Tensor& attention_mask, const torch::Tensor& side_encoder_output,
                                     const torch::Tensor& encoder_mask, StackCache* cache) {
  if (cache && cache->blocks.empty()) cache->blocks.resize(side->blocks.size());
  const int64_t past = cache ? cache->past_length : 0;
  const auto dtype = first_downsample->weight.scalar_type();
  torch::Tensor s = first_downsample->forward(torch::dropout(embeddings.to(dtype), dropout, is_training()));

  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = s;
  inputs.attention_mask = attention_mask;
  inputs.encoder_output = side_encoder_output;
  inputs.encoder_mask = encoder_mask;
  // Positions past the ladders' (visual tokens) get no ladder signal and no relative bias.
  const int64_t laddered = ladder_inputs.empty() ? s.size(1) : ladder_inputs.front().size(1);
  const int64_t unladdered = s.size(1) - laddered;
  if (unladdered < 0) throw Error("internal: lst: the ladder states are longer than the side stream");
  if (unladdered > 0) inputs.biased_length = laddered;
  torch::Tensor bias = side->self_bias(inputs, past);
  torch::Tensor enc_bias = side->is_decoder ? side->cross_bias(inputs, s.scalar_type()) : torch::Tensor();
  using torch::indexing::None;
  using torch::indexing::Slice;
  for (size_t j = 0; j < kept.size(); ++j) {
    torch::Tensor mu = torch::sigmoid(gate[kept[j]] / temperature);
    torch::Tensor signal = rung(j, ladder_inputs[j].to(dtype));
    if (unladdered > 0 && scale_visual) {
      torch::Tensor text = mu * s.index({Slice(), Slice(0, laddered)}) + (1 - mu) * signal;
      torch::Tensor visual = s.index({Slice(), Slice(laddered, None)});
      if (j == 0) visual = visual * visual_scale(text, visual,
                                             attention_mask.defined() ? attention_mask.index({Slice(), Slice(0, laddered)})
                                                                      : torch::Tensor());
      s = torch::cat({text, visual}, 1);
    } else {
      // As the authors' JointEncoder: the gate also scales the visual positions, whose ladder
      // part is zero.
      if (unladdered > 0) signal = torch::constant_pad_nd(signal, {0, 0, 0, unladdered});
      s = mu * s + (1 - mu) * signal;
    }
    s = side->blocks[j]->forward(s, bias, side_encoder_output, enc_bias, cache ? &cache->blocks[j] : nullptr);
  }
  if (cache) cache->past_length = past + embeddings.size(1);
  return torch::dropout(side->final_layer_norm->forward(s), dropout, is_training());
}

}  // namespace ladder
