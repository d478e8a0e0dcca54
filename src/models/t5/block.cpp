#include "ladder/models/t5/block.h"

namespace ladder {

T5LayerSelfAttentionImpl::T5LayerSelfAttentionImpl(const T5Config& config,
                                                   bool has_relative_attention_bias,
                                                   bool is_decoder)
    : dropout(config.dropout_rate) {
  SelfAttention = register_module(
      "SelfAttention", T5Attention(config, has_relative_attention_bias, is_decoder));
  layer_norm = register_module("layer_norm", T5LayerNorm(config.d_model, config.layer_norm_epsilon));
}

torch::Tensor T5LayerSelfAttentionImpl::forward(const torch::Tensor& h, const torch::Tensor& bias,
                                                AttentionCache* cache) {
  torch::Tensor y = SelfAttention->forward(layer_norm->forward(h), torch::Tensor(), bias, cache);
  if (adapter) y = adapter->forward(y);
  return h + torch::dropout(y, dropout, is_training());
}

T5LayerCrossAttentionImpl::T5LayerCrossAttentionImpl(const T5Config& config)
    : dropout(config.dropout_rate) {
  EncDecAttention = register_module("EncDecAttention", T5Attention(config, false, true));
  layer_norm = register_module("layer_norm", T5LayerNorm(config.d_model, config.layer_norm_epsilon));
}

torch::Tensor T5LayerCrossAttentionImpl::forward(const torch::Tensor& h,
                                                 const torch::Tensor& encoder_output,
                                                 const torch::Tensor& bias,
                                                 AttentionCache* cache) {
  torch::Tensor y = EncDecAttention->forward(layer_norm->forward(h), encoder_output, bias, cache);
  return h + torch::dropout(y, dropout, is_training());
}

T5LayerFFImpl::T5LayerFFImpl(const T5Config& config) : dropout(config.dropout_rate) {
  DenseReluDense = register_module("DenseReluDense", T5DenseActDense(config));
  layer_norm = register_module("layer_norm", T5LayerNorm(config.d_model, config.layer_norm_epsilon));
}

torch::Tensor T5LayerFFImpl::forward(const torch::Tensor& h) {
  torch::Tensor y = DenseReluDense->forward(layer_norm->forward(h));
  if (adapter) y = adapter->forward(y);
  return h + torch::dropout(y, dropout, is_training());
}

T5BlockImpl::T5BlockImpl(const T5Config& config, bool has_relative_attention_bias, bool is_decoder_)
    : is_decoder(is_decoder_) {
  self_attention = T5LayerSelfAttention(config, has_relative_attention_bias, is_decoder);
  layer->push_back(self_attention);
  if (is_decoder) {
    cross_attention = T5LayerCrossAttention(config);
    layer->push_back(cross_attention);
  }
  feed_forward = T5LayerFF(config);
  layer->push_back(feed_forward);
  register_module("layer", layer);
}

torch::Tensor T5BlockImpl::forward(const torch::Tensor& h, const torch::Tensor& self_bias,
                                   const torch::Tensor& encoder_output,
                                   const torch::Tensor& cross_bias, BlockCache* cache) {
  torch::Tensor x = self_attention->forward(h, self_bias, cache ? &cache->self : nullptr);
  if (is_decoder)
    x = cross_attention->forward(x, encoder_output, cross_bias, cache ? &cache->cross : nullptr);
  return feed_forward->forward(x);
}

}  // namespace ladder
