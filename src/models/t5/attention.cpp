#include "ladder/models/t5/attention.h"

#include <cmath>

#include "ladder/models/t5/attention_core.h"

namespace ladder {

torch::Tensor relative_position_bucket(const torch::Tensor& relative_position, bool bidirectional,
                                       int64_t num_buckets, int64_t max_distance) {
  torch::Tensor buckets = torch::zeros_like(relative_position);
  torch::Tensor position = relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    buckets = buckets + (position > 0).to(torch::kLong) * num_buckets;
    position = position.abs();
  } else {
    position = -torch::clamp_max(position, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  torch::Tensor is_small = position < max_exact;
  torch::Tensor large =
      max_exact + (torch::log(position.to(torch::kFloat) / max_exact) /
                   std::log(static_cast<double>(max_distance) / max_exact) *
                   static_cast<double>(num_buckets - max_exact))
                      .to(torch::kLong);
  large = torch::clamp_max(large, num_buckets - 1);
  return buckets + torch::where(is_small, position, large);
}

T5AttentionImpl::T5AttentionImpl(const T5Config& config, bool has_relative_attention_bias,
                                 bool is_decoder_)
    : num_heads(config.num_heads),
      d_kv(config.d_kv),
      num_buckets(config.relative_attention_num_buckets),
      max_distance(config.relative_attention_max_distance),
      is_decoder(is_decoder_),
      dropout(config.dropout_rate) {
  const int64_t inner = config.inner_dim();
  q = register_module("q", Linear(config.d_model, inner));
  k = register_module("k", Linear(config.d_model, inner));
  v = register_module("v", Linear(config.d_model, inner));
  o = register_module("o", Linear(inner, config.d_model));
  if (has_relative_attention_bias)
    relative_attention_bias = register_module(
        "relative_attention_bias", torch::nn::Embedding(num_buckets, num_heads));
}

torch::Tensor T5AttentionImpl::compute_bias(int64_t query_length, int64_t key_length,
                                            int64_t past_length,
                                            const torch::Device& device) const {
  auto options = torch::TensorOptions().dtype(torch::kLong).device(device);
  torch::Tensor context = torch::arange(past_length, past_length + query_length, options).unsqueeze(1);
  torch::Tensor memory = torch::arange(key_length, options).unsqueeze(0);
  torch::Tensor buckets =
      relative_position_bucket(memory - context, !is_decoder, num_buckets, max_distance);
  torch::Tensor values = torch::embedding(relative_attention_bias->weight, buckets);  // [Q, K, H]
  return values.permute({2, 0, 1}).unsqueeze(0);
}

torch::Tensor T5AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& kv_source,
                                       const torch::Tensor& bias, AttentionCache* cache) {
  const int64_t batch = x.size(0);
  auto heads = [&](const torch::Tensor& t) {
    return t.view({batch, -1, num_heads, d_kv}).transpose(1, 2);
  };
  torch::Tensor query = heads(q->forward(x));
  torch::Tensor key, value;
  const bool cross = kv_source.defined();
  if (cross && cache && cache->key.defined()) {
    key = cache->key;
    value = cache->value;
  } else {
    const torch::Tensor& source = cross ? kv_source : x;
    key = heads(k->forward(source));
    value = heads(v->forward(source));
    if (cache) {
      if (!cross && cache->key.defined()) {
        key = torch::cat({cache->key, key}, 2);
        value = torch::cat({cache->value, value}, 2);
      }
      cache->key = key;
      cache->value = value;
    }
  }

  torch::Tensor context = attend(query, key, value, bias, dropout, is_training());
  context = context.transpose(1, 2).reshape({batch, -1, num_heads * d_kv});
  return o->forward(context);
}

}  // namespace ladder
