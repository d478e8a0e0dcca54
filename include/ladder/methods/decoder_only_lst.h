#pragma once
// Ladder Side-Tuning of a decoder-only model (Llama family): the frozen backbone runs without
// autograd and hands the outputs of its kept blocks to a side network of the same
// architecture at width d/r (heads and key/value heads kept, head dimension divided), mixed in
// through linear ladders and learned gates; the side stream's final norm is projected back
// to d and read by the frozen head. The T5 method's settings apply (lst.h: LstConfig), with
// decoder_layers (or side_layers) naming the kept blocks; Fisher and magnitude pruning
// initialise the side blocks with grouped-query heads kept whole (pruning below).
#include <map>
#include <string>
#include <vector>

#include "ladder/methods/lst.h"
#include "ladder/models/llama/model.h"

namespace ladder {

// The side network's config: hidden, intermediate and head sizes divided by r.
LlamaConfig decoder_side_config(const LlamaConfig& backbone, int64_t reduction);

class DecoderSideImpl : public torch::nn::Module {
 public:
  DecoderSideImpl(const LlamaConfig& backbone, const LlamaConfig& side, std::vector<int64_t> kept, const LstConfig& lst);
  // embeddings [B, L, d] (frozen), ladder_inputs[j]: backbone block kept[j]'s output [B, L, d],
  // mask [B, past + L]. Returns the side stream after its final norm [B, L, d/r].
  torch::Tensor forward(const torch::Tensor& embeddings, const std::vector<torch::Tensor>& ladder_inputs,
                        const torch::Tensor& mask, DecoderCache* cache = nullptr);
  torch::Tensor rung(size_t j, const torch::Tensor& h);

  LlamaConfig config;  // the side's
  Linear first_downsample{nullptr};
  torch::nn::ModuleList ladder;  // Linear (dense) or LowRankLadder per kept layer
  torch::Tensor gate;            // alpha, one per backbone layer
  torch::nn::ModuleList layers_list;
  std::vector<LlamaDecoderLayer> layers;
  LlamaRMSNorm norm{nullptr};
  std::vector<int64_t> kept;
  double temperature;
};
TORCH_MODULE(DecoderSide);

class DecoderOnlyLstMethod : public FineTuningMethod {
 public:
  DecoderOnlyLstMethod(LlamaForCausalLM backbone, const MethodOptions& options);

  std::string name() const override { return "lst"; }
  nlohmann::json settings() const override;
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override;
  Seq2SeqOutput forward(const Seq2SeqBatch& batch) override;
  std::unique_ptr<CausalDecodingSession> start_causal_decoding(bool use_cache) override;
  void set_training(bool training) override;
  std::string why_backbone_not_cacheable() const override;

  int64_t init_examples_needed() const override { return needs_fisher() ? config_.fisher_samples : 0; }
  std::string why_init_refused() const override { return needs_fisher() ? fisher_refusal(handle_.module()) : ""; }
  std::string initialize_from_examples(const std::vector<Seq2SeqBatch>& examples,
                                       const SumAcrossRanks& sum_across_ranks = {},
                                       const ExampleDone& on_example = {}) override;
  bool needs_fisher() const { return config_.side_init == "fisher" && !side_initialized_; }
  // Side initialisation from per-parameter importance (Fisher or magnitude).
  void initialize_side(const std::map<std::string, torch::Tensor>& importance);

  // The frozen backbone without autograd: its token embeddings and the kept blocks' outputs.
  struct BackboneStates {
    torch::Tensor embeddings;
    std::vector<torch::Tensor> ladder_inputs;
  };
  BackboneStates run_backbone(const torch::Tensor& input_ids, const torch::Tensor& mask, DecoderCache* cache = nullptr);
  torch::Tensor logits_from_side(const torch::Tensor& side_output);

  LlamaForCausalLM causal;
  DecoderSide side{nullptr};
  Linear upsample{nullptr};
  std::shared_ptr<torch::nn::Module> side_modules;

 private:
  LstConfig config_;
  torch::ScalarType ladder_dtype_;
  bool side_initialized_ = false;
};

// Empirical Fisher (sum of grad**2 of the causal-LM loss over `batches`, batch size 1 each)
// and |weight| for every backbone parameter of a decoder-only model.
std::map<std::string, torch::Tensor> fisher_importance(LlamaForCausalLMImpl& model,
                                                       const std::vector<Seq2SeqBatch>& batches,
                                                       const FineTuningMethod::ExampleDone& on_example = {});
std::map<std::string, torch::Tensor> magnitude_importance(LlamaForCausalLMImpl& model);

}  // namespace ladder
