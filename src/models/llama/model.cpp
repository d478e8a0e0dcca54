#include "ladder/models/llama/model.h"

#include <cmath>

#include "ladder/error.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/attention_core.h"

namespace ladder {

void reorder_cache(DecoderCache& cache, const torch::Tensor& rows) {
  for (auto& layer : cache.layers)
    if (layer.key.defined()) {
      layer.key = layer.key.index_select(0, rows);
      layer.value = layer.value.index_select(0, rows);
    }
}

torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t length = logits.size(1);
  if (length < 2) throw UsageError("a causal-LM loss needs sequences of at least 2 tokens");
  torch::Tensor shifted_logits = logits.narrow(1, 0, length - 1);
  torch::Tensor shifted_labels = labels.narrow(1, 1, length - 1);
  const int64_t vocab = logits.size(-1);
  return torch::nn::functional::cross_entropy(
      shifted_logits.reshape({-1, vocab}).to(torch::kFloat), shifted_labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

torch::Tensor positions_from_mask(const torch::Tensor& mask) {
  return (mask.to(torch::kLong).cumsum(-1) - 1).clamp_min(0);
}

torch::Tensor rope_inverse_frequencies(const LlamaConfig& c) {
  // fp32 throughout, as transformers computes them: the same rounding as the reference.
  torch::Tensor exponent = torch::arange(0, c.head_dim, 2, torch::kLong).to(torch::kFloat) / static_cast<double>(c.head_dim);
  torch::Tensor inv_freq = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat), exponent);
  if (!c.rope_scaling.enabled()) return inv_freq;
  // Llama 3: long wavelengths are slowed by `factor`, short ones kept, the band between
  // interpolated smoothly.
  const RopeScaling& s = c.rope_scaling;
  const double original = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = original / s.low_freq_factor;
  const double high_freq_wavelen = original / s.high_freq_factor;
  torch::Tensor wavelen = 2.0 * M_PI / inv_freq;
  torch::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  torch::Tensor smooth = (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  torch::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  torch::Tensor medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(const LlamaConfig& config, const torch::Tensor& positions) {
  torch::Tensor inv_freq = rope_inverse_frequencies(config).to(positions.device());
  torch::Tensor freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [B, L, hd/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // x [B, H, L, hd]; cos/sin [B, L, hd] broadcast over heads.
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  torch::Tensor c = cos.unsqueeze(1).to(x.scalar_type()), s = sin.unsqueeze(1).to(x.scalar_type());
  return x * c + rotated * s;
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : num_heads(c.num_attention_heads), num_kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  q_proj = register_module("q_proj", Linear(c.hidden_size, c.q_width(), c.attention_bias));
  k_proj = register_module("k_proj", Linear(c.hidden_size, c.kv_width(), c.attention_bias));
  v_proj = register_module("v_proj", Linear(c.hidden_size, c.kv_width(), c.attention_bias));
  o_proj = register_module("o_proj", Linear(c.q_width(), c.hidden_size, c.o_proj_bias));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& bias, AttentionCache* cache) {
  const int64_t batch = x.size(0), length = x.size(1);
  auto heads = [&](const torch::Tensor& t, int64_t n) { return t.view({batch, length, n, head_dim}).transpose(1, 2); };
  torch::Tensor q = apply_rotary(heads(q_proj->forward(x), num_heads), cos, sin);
  torch::Tensor k = apply_rotary(heads(k_proj->forward(x), num_kv_heads), cos, sin);
  torch::Tensor v = heads(v_proj->forward(x), num_kv_heads);
  if (cache) {
    if (cache->key.defined()) {
      k = torch::cat({cache->key, k}, 2);
      v = torch::cat({cache->value, v}, 2);
    }
    cache->key = k;
    cache->value = v;
  }
  // Grouped-query attention: consecutive query heads share one key/value head.
  const int64_t groups = num_heads / num_kv_heads;
  if (groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  q = q * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  torch::Tensor out = attend(q, k, v, bias, 0.0, is_training());
  torch::Tensor y = o_proj->forward(out.transpose(1, 2).reshape({batch, length, num_heads * head_dim}));
  return adapter ? adapter->forward(y) : y;
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
  return adapter ? adapter->forward(y) : y;
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                             const torch::Tensor& bias, AttentionCache* cache) {
  torch::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, bias, cache);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) : config(c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers_list = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(LlamaDecoderLayer(c));
    layers_list->push_back(layers.back());
  }
  norm = register_module("norm", LlamaRMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaModelImpl::full_mask(const Inputs& inputs, int64_t past_length) const {
  const torch::Tensor& embeds = inputs.inputs_embeds;
  const int64_t total = past_length + embeds.size(1);
  if (!inputs.attention_mask.defined())
    return torch::ones({embeds.size(0), total}, torch::TensorOptions().dtype(torch::kLong).device(embeds.device()));
  if (inputs.attention_mask.size(0) != embeds.size(0) || inputs.attention_mask.size(1) != total)
    throw UsageError("attention_mask must cover the cached and the new tokens: expected [" +
                     std::to_string(embeds.size(0)) + ", " + std::to_string(total) + "], found [" +
                     std::to_string(inputs.attention_mask.size(0)) + ", " + std::to_string(inputs.attention_mask.size(1)) + "]");
  return inputs.attention_mask;
}

torch::Tensor LlamaModelImpl::attention_bias(const torch::Tensor& mask, int64_t query_length, int64_t past_length,
                                             torch::ScalarType dtype) const {
  return additive_mask(mask, query_length, past_length, /*causal=*/true, torch::kFloat).to(dtype);
}

StackOutput LlamaModelImpl::forward(const Inputs& inputs, bool collect_hidden, const BlockHook& hook,
                                    DecoderCache* cache) {
  const int64_t past = cache ? cache->past_length : 0;
  const int64_t length = inputs.inputs_embeds.size(1);
  if (config.sliding_window > 0 && past + length > config.sliding_window)
    throw UsageError("sequence of " + std::to_string(past + length) + " tokens is longer than the model's sliding window (" +
                     std::to_string(config.sliding_window) + "); windowed attention is not implemented");
  torch::Tensor mask = full_mask(inputs, past);
  torch::Tensor positions = positions_from_mask(mask).narrow(1, past, length);
  auto [cos, sin] = rotary_tables(config, positions);
  torch::Tensor bias = attention_bias(mask, length, past, inputs.inputs_embeds.scalar_type());
  if (cache && cache->layers.empty()) cache->layers.resize(layers.size());

  StackOutput out;
  torch::Tensor h = inputs.inputs_embeds;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (collect_hidden) out.hidden_states.push_back(h);
    h = layers[i]->forward(h, cos, sin, bias, cache ? &cache->layers[i] : nullptr);
    if (hook) hook(static_cast<int64_t>(i), h);
  }
  out.last_hidden_state = norm->forward(h);
  if (collect_hidden) out.hidden_states.push_back(out.last_hidden_state);
  if (cache) cache->past_length = past + length;
  return out;
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c) : config(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size));
}

torch::Tensor LlamaForCausalLMImpl::embed(const torch::Tensor& ids) const {
  if (auto q = quantized_weight_of(*model->embed_tokens)) return dequantize_rows(q->q, ids, q->compute_dtype);
  return torch::embedding(model->embed_tokens->weight, ids);
}

torch::Tensor LlamaForCausalLMImpl::head(const torch::Tensor& hidden) {
  if (lm_head) return lm_head->forward(hidden);
  if (auto q = quantized_weight_of(*model->embed_tokens)) return quantized_linear(hidden, q->q);
  return torch::nn::functional::linear(hidden, model->embed_tokens->weight.to(hidden.scalar_type()));
}

torch::ScalarType LlamaForCausalLMImpl::compute_dtype() const {
  if (auto q = quantized_weight_of(*model->embed_tokens)) return q->compute_dtype;
  return model->embed_tokens->weight.scalar_type();
}

torch::Device LlamaForCausalLMImpl::device() const {
  if (auto q = quantized_weight_of(*model->embed_tokens)) return q->q.codes.device();
  return model->embed_tokens->weight.device();
}

void LlamaForCausalLMImpl::set_prompt(torch::Tensor prompt) {
  prompt_embeddings = register_parameter("prompt_embeddings", std::move(prompt));
}

CausalLMOutput LlamaForCausalLMImpl::forward(const CausalLMBatch& batch, bool collect_hidden, const BlockHook& hook,
                                             DecoderCache* cache) {
  LlamaModelImpl::Inputs inputs;
  inputs.inputs_embeds = embed(batch.input_ids);
  inputs.attention_mask = batch.attention_mask;
  // Prompt tuning: the learned vectors come first, once per sequence (a cache keeps them), and
  // every mask covers them; their own positions predict nothing and are dropped from the logits.
  const int64_t prompt_length = prompt_embeddings.defined() ? prompt_embeddings.size(0) : 0;
  const bool prepend = prompt_length > 0 && (!cache || cache->past_length == 0);
  const int64_t rows = batch.input_ids.size(0);
  if (prepend) {
    torch::Tensor prefix = prompt_embeddings.to(inputs.inputs_embeds.scalar_type()).unsqueeze(0).expand({rows, -1, -1});
    inputs.inputs_embeds = torch::cat({prefix, inputs.inputs_embeds}, 1);
  }
  if (prompt_length > 0 && inputs.attention_mask.defined())
    inputs.attention_mask =
        torch::cat({torch::ones({rows, prompt_length}, inputs.attention_mask.options()), inputs.attention_mask}, 1);
  StackOutput stack = model->forward(inputs, collect_hidden, hook, cache);
  if (prepend) {
    const int64_t length = batch.input_ids.size(1);
    stack.last_hidden_state = stack.last_hidden_state.narrow(1, prompt_length, length);
    for (auto& hidden : stack.hidden_states) hidden = hidden.narrow(1, prompt_length, length);
  }
  CausalLMOutput out;
  out.logits = head(stack.last_hidden_state);
  if (batch.labels.defined()) out.loss = causal_lm_loss(out.logits, batch.labels);
  out.hidden_states = std::move(stack.hidden_states);
  return out;
}

}  // namespace ladder
