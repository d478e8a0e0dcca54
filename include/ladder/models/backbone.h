#pragma once
// The pretrained model a fine-tuning method wraps: an encoder-decoder (T5) or a decoder-only
// language model (the Llama family). Methods that only touch Linears and parameters (full,
// LoRA, BitFit) work on either through this handle; the ones that reshape a T5's stacks reach
// the T5 inside.
//
// One batch layout serves both (Seq2SeqBatch): for a decoder-only model, input_ids is the whole
// sequence (prompt and answer), attention_mask covers it, and labels are aligned with it
// (-100 where no loss is taken, e.g. on the prompt); decoder_input_ids is unused.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/models/llama/model.h"
#include "ladder/models/t5/model.h"

namespace ladder {

class Backbone {
 public:
  Backbone(T5ForConditionalGeneration t5);   // NOLINT: implicit, a T5 is a backbone
  Backbone(LlamaForCausalLM causal_lm);      // NOLINT: so is a Llama-family model

  bool is_t5() const { return static_cast<bool>(t5_); }
  bool is_causal_lm() const { return static_cast<bool>(causal_lm_); }
  // The family's name in messages and adapter configs: "t5" or the config's model_type.
  std::string family() const;
  // Throw a UsageError naming `method` when the backbone is not of that family.
  T5ForConditionalGeneration& t5(const std::string& method) ;
  LlamaForCausalLM& causal_lm(const std::string& method);
  T5ForConditionalGeneration t5_or_null() const { return t5_; }
  LlamaForCausalLM causal_lm_or_null() const { return causal_lm_; }

  torch::nn::Module& module() const;
  nlohmann::json config_json() const;
  int64_t vocab_size() const;
  // What batches are padded with: T5's <pad>, a decoder-only model's pad token or else its eos
  // (the mask hides it either way).
  int64_t padding_id() const;
  torch::Device device() const;
  torch::ScalarType compute_dtype() const;

  // The plain model's loss and logits (decoder-only: its causal-LM loss over labels != -100).
  Seq2SeqOutput forward(const Seq2SeqBatch& batch) const;

 private:
  T5ForConditionalGeneration t5_{nullptr};
  LlamaForCausalLM causal_lm_{nullptr};
};

// A decoder-only batch from the shared layout (input_ids, attention_mask, labels).
CausalLMBatch causal_batch(const Seq2SeqBatch& batch);

}  // namespace ladder
