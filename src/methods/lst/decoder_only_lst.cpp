// LST on a decoder-only backbone: its side network, forward pass, and generation with both
// KV caches (the backbone's and the side's).
#include <algorithm>
#include <cmath>

#include "ladder/error.h"
#include "ladder/methods/decoder_only_lst.h"
#include "ladder/methods/factories.h"
#include "side_init.h"

namespace ladder {
namespace {

// transformers' initialisation of a side block's projection.
void init_normal(LinearImpl& linear, double std, torch::Generator& gen) {
  torch::NoGradGuard no_grad;
  linear.weight.copy_(torch::empty(linear.weight.sizes(), torch::kFloat).normal_(0.0, std, gen));
  if (linear.bias.defined()) linear.bias.zero_();
}

}  // namespace

LlamaConfig decoder_side_config(const LlamaConfig& backbone, int64_t reduction) {
  LlamaConfig side = backbone;
  side.hidden_size = backbone.hidden_size / reduction;
  side.intermediate_size = backbone.intermediate_size / reduction;
  side.head_dim = backbone.head_dim / reduction;
  auto fits = [&](int64_t r) {
    const int64_t head = backbone.head_dim / r;
    return backbone.hidden_size / r > 0 && backbone.intermediate_size / r > 0 && head >= 2 && head % 2 == 0;
  };
  if (!fits(reduction)) {
    int64_t largest = reduction - 1;
    while (largest > 0 && !fits(largest)) --largest;
    throw UsageError("lst: reduction " + std::to_string(reduction) + " is too large for hidden_size " +
                     std::to_string(backbone.hidden_size) + " and head_dim " + std::to_string(backbone.head_dim) +
                     " (the side's head dimension must stay even and at least 2 for RoPE): " +
                     (largest > 0 ? "the largest that fits is " + std::to_string(largest)
                                  : std::string("no reduction fits this model")));
  }
  return side;
}

DecoderSideImpl::DecoderSideImpl(const LlamaConfig& backbone, const LlamaConfig& side_config, std::vector<int64_t> kept_layers,
                                 const LstConfig& lst)
    : config(side_config), kept(std::move(kept_layers)), temperature(lst.gate_temperature) {
  const int64_t backbone_layers = backbone.num_hidden_layers;
  if (kept.empty()) throw UsageError("lst: at least one side layer must be kept");
  for (size_t j = 0; j < kept.size(); ++j)
    if (kept[j] < 0 || kept[j] >= backbone_layers || (j > 0 && kept[j] <= kept[j - 1]))
      throw UsageError("lst: side layers must be increasing indices in [0, " + std::to_string(backbone_layers) +
                       "), found " + std::to_string(kept[j]));
  first_downsample = register_module("first_downsample", Linear(backbone.hidden_size, config.hidden_size, true));
  for (size_t j = 0; j < kept.size(); ++j) {
    if (lst.ladder_rank > 0) ladder->push_back(LowRankLadder(backbone.hidden_size, lst.ladder_rank, config.hidden_size));
    else ladder->push_back(Linear(backbone.hidden_size, config.hidden_size, true));
  }
  register_module("ladder", ladder);
  gate = register_parameter("gate", torch::full({backbone_layers}, lst.gate_alpha_init));
  layers_list = register_module("layers", torch::nn::ModuleList());
  for (size_t j = 0; j < kept.size(); ++j) {
    layers.push_back(LlamaDecoderLayer(config));
    layers_list->push_back(layers.back());
  }
  norm = register_module("norm", LlamaRMSNorm(config.hidden_size, config.rms_norm_eps));
}

torch::Tensor DecoderSideImpl::rung(size_t j, const torch::Tensor& h) {
  if (auto* dense = ladder[j]->as<LinearImpl>()) return dense->forward(h);
  return ladder[j]->as<LowRankLadderImpl>()->forward(h);
}

torch::Tensor DecoderSideImpl::forward(const torch::Tensor& embeddings, const std::vector<torch::Tensor>& ladder_inputs,
                                       const torch::Tensor& mask, DecoderCache* cache) {
  if (cache && cache->layers.empty()) cache->layers.resize(layers.size());
  const int64_t past = cache ? cache->past_length : 0;
  const int64_t length = embeddings.size(1);
  const auto dtype = first_downsample->weight.scalar_type();
  torch::Tensor s = first_downsample->forward(embeddings.to(dtype));
  // The backbone's positions and mask, at the side's head dimension.
  auto [cos, sin] = rotary_tables(config, positions_from_mask(mask).narrow(1, past, length));
  torch::Tensor bias = additive_mask(mask, length, past, /*causal=*/true, torch::kFloat).to(dtype);
  for (size_t j = 0; j < kept.size(); ++j) {
    torch::Tensor mu = torch::sigmoid(gate[kept[j]] / temperature);
    s = mu * s + (1 - mu) * rung(j, ladder_inputs[j].to(dtype));
    s = layers[j]->forward(s, cos, sin, bias, cache ? &cache->layers[j] : nullptr);
  }
  if (cache) cache->past_length = past + length;
  return norm->forward(s);
}

DecoderOnlyLstMethod::DecoderOnlyLstMethod(LlamaForCausalLM backbone, const MethodOptions& options)
    : FineTuningMethod(backbone), causal(backbone), config_(LstConfig::from_json(options.settings)),
      ladder_dtype_(backbone->compute_dtype()) {
  const LlamaConfig& c = causal->config;
  if (options.settings.contains("encoder_layers"))
    throw UsageError("lst: a decoder-only model has no encoder; name its kept blocks with decoder_layers or side_layers");
  if (options.settings.contains("cross_attention_columns"))
    throw UsageError("lst: cross_attention_columns is for T5's decoder; a decoder-only model has no cross-attention");
  config_.encoder_layers.clear();
  if (config_.decoder_layers.empty()) config_.decoder_layers = default_side_layers(c.num_hidden_layers);
  const LlamaConfig side_config = decoder_side_config(c, config_.reduction);

  side_modules = std::make_shared<torch::nn::Module>("LadderSideNetwork");
  side = side_modules->register_module("side", DecoderSide(c, side_config, config_.decoder_layers, config_));
  upsample = side_modules->register_module("upsample", Linear(side_config.hidden_size, c.hidden_size, true));

  // transformers' initialisation for the side blocks (0.02), the T5 method's for the new
  // projections (downsample, ladders, upsample).
  torch::Generator gen = at::detail::createCPUGenerator(options.seed);
  for (auto& layer : side->layers) {
    auto& a = layer->self_attn;
    auto& m = layer->mlp;
    for (Linear* linear : {&a->q_proj, &a->k_proj, &a->v_proj, &a->o_proj, &m->gate_proj, &m->up_proj, &m->down_proj})
      init_normal(**linear, 0.02, gen);
  }
  lst_init::init_new_linear(*side->first_downsample, gen);
  for (auto& rung : *side->ladder) lst_init::init_rung(*rung, gen);
  lst_init::init_new_linear(*upsample, gen);

  freeze_backbone();
  if (config_.side_init == "magnitude") initialize_side(magnitude_importance(*causal));
  side_modules->to(causal->device());
  set_training(true);
}

nlohmann::json DecoderOnlyLstMethod::settings() const {
  nlohmann::json s = config_.to_json();
  for (const char* t5_only : {"encoder_layers", "cross_attention_columns", "backbone_dropout"}) s.erase(t5_only);
  return s;
}

std::vector<std::pair<std::string, torch::Tensor>> DecoderOnlyLstMethod::method_trainable() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : side_modules->named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

void DecoderOnlyLstMethod::set_training(bool training) {
  side_modules->train(training);
  causal->train(false);  // no dropout in the Llama family: the backbone is a pure function
}

std::string DecoderOnlyLstMethod::why_backbone_not_cacheable() const {
  return "lst: --cache-backbone is not yet available for decoder-only models";
}

DecoderOnlyLstMethod::BackboneStates DecoderOnlyLstMethod::run_backbone(const torch::Tensor& input_ids,
                                                                        const torch::Tensor& mask, DecoderCache* cache) {
  torch::NoGradGuard no_grad;
  BackboneStates states;
  states.embeddings = causal->embed(input_ids);
  LlamaModelImpl::Inputs inputs;
  inputs.inputs_embeds = states.embeddings;
  inputs.attention_mask = mask;
  const std::vector<int64_t>& kept = config_.decoder_layers;
  const torch::ScalarType dtype = ladder_dtype_;
  // Only the kept blocks' outputs are held; the rest is freed as the next block consumes it.
  causal->model->forward(inputs, false,
                         [&](int64_t layer, const torch::Tensor& output) {
                           if (std::binary_search(kept.begin(), kept.end(), layer)) states.ladder_inputs.push_back(output.to(dtype));
                         },
                         cache);
  return states;
}

torch::Tensor DecoderOnlyLstMethod::logits_from_side(const torch::Tensor& side_output) {
  return causal->head(upsample->forward(side_output).to(causal->compute_dtype()));
}

Seq2SeqOutput DecoderOnlyLstMethod::forward(const Seq2SeqBatch& batch) {
  const torch::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask : torch::ones_like(batch.input_ids);
  BackboneStates states = run_backbone(batch.input_ids, mask);
  Seq2SeqOutput out;
  out.logits = logits_from_side(side->forward(states.embeddings, states.ladder_inputs, mask));
  if (batch.labels.defined()) out.loss = causal_lm_loss(out.logits, batch.labels);
  return out;
}

namespace {

class DecoderLstSession : public CausalDecodingSession {
 public:
  DecoderLstSession(DecoderOnlyLstMethod& lst, bool use_cache) : lst_(lst), use_cache_(use_cache) {}

  torch::Tensor next_logits(const torch::Tensor& tokens, const torch::Tensor& mask) override {
    torch::NoGradGuard no_grad;
    if (!use_cache_) {
      auto states = lst_.run_backbone(tokens, mask);
      return lst_.logits_from_side(lst_.side->forward(states.embeddings, states.ladder_inputs, mask)).select(1, -1);
    }
    const int64_t seen = backbone_cache_.past_length;
    torch::Tensor fresh = tokens.narrow(1, seen, tokens.size(1) - seen);
    auto states = lst_.run_backbone(fresh, mask, &backbone_cache_);
    torch::Tensor side = lst_.side->forward(states.embeddings, states.ladder_inputs, mask, &side_cache_);
    return lst_.logits_from_side(side.select(1, -1));
  }

 private:
  DecoderOnlyLstMethod& lst_;
  bool use_cache_;
  DecoderCache backbone_cache_, side_cache_;
};

}  // namespace

std::unique_ptr<CausalDecodingSession> DecoderOnlyLstMethod::start_causal_decoding(bool use_cache) {
  return std::make_unique<DecoderLstSession>(*this, use_cache);
}

std::string DecoderOnlyLstMethod::initialize_from_examples(const std::vector<Seq2SeqBatch>& examples,
                                                           const SumAcrossRanks& sum_across_ranks,
                                                           const ExampleDone& on_example) {
  if (!needs_fisher()) return "";
  std::map<std::string, torch::Tensor> importance = fisher_importance(*causal, examples, on_example);
  if (sum_across_ranks)
    for (auto& [name, value] : importance) sum_across_ranks(value);
  initialize_side(importance);
  return "lst: side network initialised by Fisher pruning over " + std::to_string(examples.size()) + " examples";
}

std::unique_ptr<FineTuningMethod> make_decoder_only_lst(LlamaForCausalLM backbone, const MethodOptions& options) {
  return std::make_unique<DecoderOnlyLstMethod>(std::move(backbone), options);
}

}  // namespace ladder
