#include "ladder/models/t5/model.h"

#include <cmath>

#include "ladder/error.h"

namespace ladder {

torch::Tensor shift_right(const torch::Tensor& labels, int64_t start_token_id, int64_t pad_token_id) {
  torch::Tensor shifted = torch::full_like(labels, start_token_id);
  using torch::indexing::Slice;
  shifted.index_put_({Slice(), Slice(1, torch::indexing::None)}, labels.index({Slice(), Slice(0, -1)}));
  return shifted.masked_fill(shifted == -100, pad_token_id);
}

torch::Tensor seq2seq_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t vocab = logits.size(-1);
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, vocab}).to(torch::kFloat), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

T5ForConditionalGenerationImpl::T5ForConditionalGenerationImpl(const T5Config& config_)
    : config(config_) {
  shared = register_module("shared", torch::nn::Embedding(config.vocab_size, config.d_model));
  encoder = register_module("encoder", T5Stack(config, false, config.num_layers));
  decoder = register_module("decoder", T5Stack(config, true, config.num_decoder_layers));
  if (config.has_lm_head) lm_head = register_module("lm_head", Linear(config.d_model, config.vocab_size));
}

void T5ForConditionalGenerationImpl::set_prompt(torch::Tensor prompt) {
  prompt_embeddings = register_parameter("prompt_embeddings", std::move(prompt));
}

torch::Tensor T5ForConditionalGenerationImpl::encoder_embeddings(const torch::Tensor& input_ids) const {
  torch::Tensor embeds = embed(input_ids);
  if (!prompt_embeddings.defined()) return embeds;
  torch::Tensor prefix = prompt_embeddings.to(embeds.scalar_type()).unsqueeze(0).expand({input_ids.size(0), -1, -1});
  return torch::cat({prefix, embeds}, 1);
}

torch::Tensor T5ForConditionalGenerationImpl::encoder_mask(const torch::Tensor& input_ids,
                                                           const torch::Tensor& attention_mask) const {
  torch::Tensor mask = attention_mask.defined() ? attention_mask : torch::ones_like(input_ids);
  if (!prompt_embeddings.defined()) return mask;
  torch::Tensor prefix = torch::ones({input_ids.size(0), prompt_embeddings.size(0)}, mask.options());
  return torch::cat({prefix, mask}, 1);
}

StackOutput T5ForConditionalGenerationImpl::encode(const torch::Tensor& input_ids,
                                                   const torch::Tensor& attention_mask,
                                                   bool collect_hidden, const BlockHook& hook) {
  return encode(encoder_input(input_ids, attention_mask, {}), collect_hidden, hook);
}

StackOutput T5ForConditionalGenerationImpl::encode(const EncoderInput& input, bool collect_hidden,
                                                   const BlockHook& hook) {
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = input.embeds;
  inputs.attention_mask = input.mask;
  inputs.biased_length = input.text_length;
  return encoder->forward(inputs, collect_hidden, hook);
}

void T5ForConditionalGenerationImpl::enable_visual(const VisualConfig& visual) {
  if (visual_embedding) throw Error("internal: the visual embedding is already set");
  visual_embedding = encoder->register_module("visual_embedding",
                                              VisualEmbedding(visual, config.d_model, config.layer_norm_epsilon));
  visual_embedding->to(device());
}

torch::Tensor T5ForConditionalGenerationImpl::visual_embeds(const VisualInput& visual) {
  if (!visual_embedding)
    throw UsageError("this model has no visual embedding: visual input needs a vision-language run (--features)");
  return visual_embedding->forward(visual, config.vocab_size, [this](const torch::Tensor& ids) { return embed(ids); });
}

EncoderInput T5ForConditionalGenerationImpl::encoder_input(const torch::Tensor& input_ids,
                                                           const torch::Tensor& attention_mask,
                                                           const VisualInput& visual) {
  EncoderInput input;
  input.embeds = encoder_embeddings(input_ids);
  input.mask = encoder_mask(input_ids, attention_mask);
  input.text_length = input.embeds.size(1);
  if (!visual.defined()) return input;
  torch::Tensor vis = visual_embeds(visual);
  input.embeds = torch::cat({input.embeds, vis.to(input.embeds.scalar_type())}, 1);
  input.mask = torch::cat({input.mask, torch::ones({vis.size(0), vis.size(1)}, input.mask.options())}, 1);
  return input;
}

StackOutput T5ForConditionalGenerationImpl::decode(const torch::Tensor& decoder_input_ids,
                                                   const torch::Tensor& encoder_output,
                                                   const torch::Tensor& encoder_mask,
                                                   bool collect_hidden, const BlockHook& hook,
                                                   StackCache* cache) {
  T5StackImpl::Inputs inputs;
  inputs.inputs_embeds = embed(decoder_input_ids);
  inputs.encoder_output = encoder_output;
  inputs.encoder_mask = encoder_mask;
  return decoder->forward(inputs, collect_hidden, hook, cache);
}

torch::Tensor T5ForConditionalGenerationImpl::embed(const torch::Tensor& ids) const {
  if (auto q = quantized_weight_of(*shared)) return dequantize_rows(q->q, ids, q->compute_dtype);
  return torch::embedding(shared->weight, ids);
}

torch::ScalarType T5ForConditionalGenerationImpl::compute_dtype() const {
  if (auto q = quantized_weight_of(*shared)) return q->compute_dtype;
  return shared->weight.scalar_type();
}

torch::Device T5ForConditionalGenerationImpl::device() const {
  if (auto q = quantized_weight_of(*shared)) return q->q.codes.device();
  return shared->weight.device();
}

torch::Tensor T5ForConditionalGenerationImpl::head(const torch::Tensor& decoder_output) const {
  torch::Tensor h = decoder_output;
  if (config.scale_decoder_outputs) h = h * std::pow(static_cast<double>(config.d_model), -0.5);
  // A quantised head (tied or not) is dequantised just in time, and again in backward.
  if (lm_head) return lm_head->weight_q ? quantized_linear(h, lm_head->weight_q->q)
                                        : torch::nn::functional::linear(h, lm_head->weight);
  if (auto q = quantized_weight_of(*shared)) return quantized_linear(h.to(q->compute_dtype), q->q);
  return torch::nn::functional::linear(h, shared->weight.to(h.scalar_type()));
}

Seq2SeqOutput T5ForConditionalGenerationImpl::forward(const Seq2SeqBatch& batch, bool collect_hidden) {
  torch::Tensor decoder_input_ids = batch.decoder_input_ids;
  if (!decoder_input_ids.defined())
    decoder_input_ids = shift_right(batch.labels, config.decoder_start_token_id, config.pad_token_id);
  EncoderInput input = encoder_input(batch.input_ids, batch.attention_mask, batch.visual);
  StackOutput enc = encode(input, collect_hidden);
  StackOutput dec = decode(decoder_input_ids, enc.last_hidden_state, input.mask, collect_hidden);
  Seq2SeqOutput out;
  out.logits = head(dec.last_hidden_state);
  if (batch.labels.defined()) out.loss = seq2seq_loss(out.logits, batch.labels);
  out.encoder_hidden_states = std::move(enc.hidden_states);
  out.decoder_hidden_states = std::move(dec.hidden_states);
  return out;
}

}  // namespace ladder
