#include "ladder/models/backbone.h"

#include "ladder/error.h"

namespace ladder {

Backbone::Backbone(T5ForConditionalGeneration t5) : t5_(std::move(t5)) {
  if (!t5_) throw Error("internal: an empty T5 backbone");
}

Backbone::Backbone(LlamaForCausalLM causal_lm) : causal_lm_(std::move(causal_lm)) {
  if (!causal_lm_) throw Error("internal: an empty decoder-only backbone");
}

std::string Backbone::family() const { return t5_ ? "t5" : causal_lm_->config.model_type; }

T5ForConditionalGeneration& Backbone::t5(const std::string& method) {
  if (!t5_)
    throw UsageError(method + " is not yet available for decoder-only models (" + family() +
                     "); it is for T5. Decoder-only models take lst, full, lora, adapter, bitfit and prompt");
  return t5_;
}

LlamaForCausalLM& Backbone::causal_lm(const std::string& method) {
  if (!causal_lm_) throw UsageError(method + " needs a decoder-only model, not T5");
  return causal_lm_;
}

torch::nn::Module& Backbone::module() const {
  if (t5_) return *t5_.ptr();
  return *causal_lm_.ptr();
}

nlohmann::json Backbone::config_json() const { return t5_ ? t5_->config.to_json() : causal_lm_->config.to_json(); }

int64_t Backbone::vocab_size() const { return t5_ ? t5_->config.vocab_size : causal_lm_->config.vocab_size; }

int64_t Backbone::padding_id() const {
  return t5_ ? t5_->config.pad_token_id : causal_lm_->config.fill_token_id();
}

torch::Device Backbone::device() const { return t5_ ? t5_->device() : causal_lm_->device(); }

torch::ScalarType Backbone::compute_dtype() const { return t5_ ? t5_->compute_dtype() : causal_lm_->compute_dtype(); }

CausalLMBatch causal_batch(const Seq2SeqBatch& batch) {
  CausalLMBatch out;
  out.input_ids = batch.input_ids;
  out.attention_mask = batch.attention_mask;
  out.labels = batch.labels;
  return out;
}

Seq2SeqOutput Backbone::forward(const Seq2SeqBatch& batch) const {
  if (t5_) return t5_.ptr()->forward(batch);
  if (batch.visual.defined()) throw UsageError("visual input needs a vision-language T5, not " + family());
  CausalLMOutput causal = causal_lm_.ptr()->forward(causal_batch(batch));
  Seq2SeqOutput out;
  out.logits = causal.logits;
  out.loss = causal.loss;
  return out;
}

}  // namespace ladder
