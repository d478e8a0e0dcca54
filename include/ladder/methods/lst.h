#pragma once
// Ladder Side-Tuning (docs/lst-design.md): a frozen backbone run without autograd, and a
// thin side network of the same T5 blocks (widths / r) that reads the backbone's block
// outputs through linear ladders mixed in by learned gates.
#include <map>
#include <string>
#include <vector>

#include "ladder/methods/method.h"
#include "ladder/models/t5/stack.h"

namespace ladder {

struct LstConfig {
  int64_t reduction = 8;
  // Kept side layers per stack; empty = the paper's defaults (see default_side_layers).
  std::vector<int64_t> encoder_layers, decoder_layers;
  double gate_temperature = 0.1;
  double gate_alpha_init = 0.0;
  // The authors keep the backbone in train mode (dropout 0.1 while training). Off makes the
  // backbone deterministic.
  bool backbone_dropout = true;
  std::string side_init = "fisher";  // fisher | magnitude | random
  // Training examples for the Fisher importance, drawn by a seeded shuffle of the whole
  // training set (fisher_sample_indices), batch size 1.
  int64_t fisher_samples = 1024;
  // Input columns of the decoder's EncDecAttention k and v while pruning (docs/lst-design.md §6):
  // "decoder" (the authors' pruning_without_residual: the decoder chain's current kept set,
  // although k and v read the encoder output) or "encoder" (the encoder's final kept set: the
  // coordinates the side decoder's cross-attention actually reads, since it attends to the
  // side encoder's output; offered because it is the dimensionally consistent choice).
  std::string cross_attention_columns = "decoder";
  // 0: dense ladders (the authors': d x d/r each, ~40% of LST's parameters); k > 0: each
  // ladder is down (d -> k, no bias) then up (k -> d/r), as QST's low-rank ladders.
  int64_t ladder_rank = 0;
  // The visual positions of a vision-language side encoder, which get no ladder:
  // "scaled" (ladder's): scaled at entry, per example, to the RMS of the text positions'
  // stream (embeddings and first ladder), and left out of the gates; "authors": as the authors'
  // JointEncoder, at the scale of first_downsample and scaled by every gate. With "authors" the
  // ladder-fed text stream swamps them (RMS ~100 against ~5) and the image never reaches the
  // logits (docs/guide-vision-language.md, "Why VQA did not read the image").
  std::string visual_stream = "scaled";

  static LstConfig from_json(const nlohmann::json& settings);
  nlohmann::json to_json() const;
};

// 12 layers: drop 0, 4, 8; 24 layers: the odd ones; otherwise drop every 4th from 0.
std::vector<int64_t> default_side_layers(int64_t num_layers);
// The side network's T5 config: widths divided by r (integer division), same head count.
T5Config side_config(const T5Config& backbone, int64_t reduction);

// A low-rank ladder: up(down(h)), named ladder.J.down / ladder.J.up.
class LowRankLadderImpl : public torch::nn::Module {
 public:
  LowRankLadderImpl(int64_t in, int64_t rank, int64_t out);
  torch::Tensor forward(const torch::Tensor& h) { return up->forward(down->forward(h)); }
  Linear down{nullptr}, up{nullptr};
};
TORCH_MODULE(LowRankLadder);

// One stack's side part: first downsample, ladders and gates, the side blocks (a T5Stack of
// |K| blocks whose first owns the relative bias), and its final norm (the stack's).
class SideStackImpl : public torch::nn::Module {
 public:
  SideStackImpl(const T5Config& backbone, const T5Config& side, bool is_decoder,
                int64_t backbone_layers, std::vector<int64_t> kept, const LstConfig& lst);

  // embeddings: the frozen token embeddings [B, L, d], followed in a vision-language
  // encoder by V visual embeddings; ladder_inputs[j]: output of backbone block kept[j]
  // [B, L, d]. attention_mask covers all L (+ V) positions. Returns the side stream after the
  // final norm and dropout [B, L (+ V), d/r].
  torch::Tensor forward(const torch::Tensor& embeddings, const std::vector<torch::Tensor>& ladder_inputs,
                        const torch::Tensor& attention_mask, const torch::Tensor& side_encoder_output,
                        const torch::Tensor& encoder_mask, StackCache* cache = nullptr);
  torch::Tensor rung(size_t j, const torch::Tensor& h);

  Linear first_downsample{nullptr};
  torch::nn::ModuleList ladder;  // Linear (dense) or LowRankLadder per kept layer
  torch::Tensor gate;  // alpha, one per backbone layer
  T5Stack side{nullptr};
  std::vector<int64_t> kept;
  double temperature;
  double dropout;
  bool scale_visual;  // LstConfig::visual_stream == "scaled"
};
TORCH_MODULE(SideStack);

// "" when the empirical Fisher can be computed on `model`; otherwise why not (a quantised
// backbone holds no weights to take gradients of).
std::string fisher_refusal(const torch::nn::Module& model);

class LstMethod : public FineTuningMethod {
 public:
  LstMethod(T5ForConditionalGeneration backbone, const MethodOptions& options);

  std::string name() const override { return "lst"; }
  nlohmann::json settings() const override { return config_.to_json(); }
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override;
  Seq2SeqOutput forward(const Seq2SeqBatch& batch) override;
  std::unique_ptr<DecodingSession> start_decoding(const Seq2SeqBatch& inputs, bool use_cache) override;
  // The side encoder's input and mask: the frozen text embeddings, then (vision-language)
  // the trainable visual embeddings, which only the side network sees.
  struct SideEncoderInput {
    torch::Tensor embeddings, mask;
  };
  SideEncoderInput side_encoder_input(const torch::Tensor& text_embeddings, const torch::Tensor& text_mask,
                                      const VisualInput& visual);
  void set_training(bool training) override;
  std::string why_backbone_not_cacheable() const override;
  LadderStates backbone_states(const Seq2SeqBatch& batch) override;
  Seq2SeqOutput forward_from_states(const Seq2SeqBatch& batch, const LadderStates& states) override;
  nlohmann::json backbone_states_identity() const override;
  int64_t release_backbone_blocks(const std::string& park_path) override;
  void restore_backbone_blocks() override;

  // Runs the frozen backbone stack without autograd and keeps only the outputs of the kept
  // blocks (in `ladder_dtype`), releasing every other activation as soon as it is consumed.
  struct BackboneStates {
    torch::Tensor embeddings;              // frozen token embeddings
    std::vector<torch::Tensor> ladder_inputs;
    torch::Tensor output;                  // the stack's final output (encoder: for the decoder)
  };
  BackboneStates run_backbone_encoder(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  BackboneStates run_backbone_decoder(const torch::Tensor& decoder_ids, const torch::Tensor& encoder_output,
                                      const torch::Tensor& encoder_mask, StackCache* cache = nullptr);
  torch::Tensor logits_from_side(const torch::Tensor& side_decoder_output);

  // Side initialisation from per-parameter importance (Fisher or magnitude), §6.
  void initialize_side(const std::map<std::string, torch::Tensor>& importance);
  bool needs_fisher() const { return config_.side_init == "fisher" && !side_initialized_; }
  int64_t init_examples_needed() const override { return needs_fisher() ? config_.fisher_samples : 0; }
  std::string why_init_refused() const override { return needs_fisher() ? fisher_refusal(handle_.module()) : ""; }
  std::string initialize_from_examples(const std::vector<Seq2SeqBatch>& examples,
                                       const SumAcrossRanks& sum_across_ranks = {},
                                       const ExampleDone& on_example = {}) override;
  const LstConfig& lst_config() const { return config_; }

  SideStack side_encoder{nullptr}, side_decoder{nullptr};
  Linear upsample{nullptr};
  // Container registering the trainable modules under stable names.
  std::shared_ptr<torch::nn::Module> side_modules;

 private:
  LstConfig config_;
  torch::ScalarType ladder_dtype_;
  bool side_initialized_ = false;
  std::string parked_blocks_;  // where release_backbone_blocks wrote them
  std::map<std::string, std::vector<int64_t>> parked_shapes_;
};

// Empirical Fisher: sum of grad**2 of the label loss over `batches` (batch size 1 each) for
// every backbone parameter, with the plain T5 in eval mode. No batches: zeros (a rank of a
// data-parallel run with no example of its own).
std::map<std::string, torch::Tensor> fisher_importance(T5ForConditionalGenerationImpl& model,
                                                       const std::vector<Seq2SeqBatch>& batches,
                                                       const FineTuningMethod::ExampleDone& on_example = {});
// |weight| of every backbone parameter (no data needed).
std::map<std::string, torch::Tensor> magnitude_importance(T5ForConditionalGenerationImpl& model);
// Indices of the `keep` rows of `importance` [n, m] (restricted beforehand) with the largest
// L1 norms, in ascending order.
torch::Tensor top_l1_rows(const torch::Tensor& importance, int64_t keep);

}  // namespace ladder
