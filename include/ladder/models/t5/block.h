#pragma once
// One T5 block: self-attention, cross-attention (decoder only) and feed-forward sublayers,
// each pre-norm with a residual. Module names follow Hugging Face's `block.N.layer.M`.
#include <torch/torch.h>

#include "ladder/models/t5/attention.h"

namespace ladder {

struct BlockCache {
  AttentionCache self, cross;
};

class T5LayerSelfAttentionImpl : public torch::nn::Module {
 public:
  T5LayerSelfAttentionImpl(const T5Config& config, bool has_relative_attention_bias, bool is_decoder);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& bias, AttentionCache* cache);
  T5Attention SelfAttention{nullptr};
  T5LayerNorm layer_norm{nullptr};
  Adapter adapter{nullptr};  // set by the adapter method
  double dropout;
};
TORCH_MODULE(T5LayerSelfAttention);

class T5LayerCrossAttentionImpl : public torch::nn::Module {
 public:
  explicit T5LayerCrossAttentionImpl(const T5Config& config);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& encoder_output,
                        const torch::Tensor& bias, AttentionCache* cache);
  T5Attention EncDecAttention{nullptr};
  T5LayerNorm layer_norm{nullptr};
  double dropout;
};
TORCH_MODULE(T5LayerCrossAttention);

class T5LayerFFImpl : public torch::nn::Module {
 public:
  explicit T5LayerFFImpl(const T5Config& config);
  torch::Tensor forward(const torch::Tensor& h);
  T5DenseActDense DenseReluDense{nullptr};
  T5LayerNorm layer_norm{nullptr};
  Adapter adapter{nullptr};  // set by the adapter method
  double dropout;
};
TORCH_MODULE(T5LayerFF);

class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5Config& config, bool has_relative_attention_bias, bool is_decoder);
  // self_bias / cross_bias: position bias with masks added (see T5Stack).
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& self_bias,
                        const torch::Tensor& encoder_output, const torch::Tensor& cross_bias,
                        BlockCache* cache = nullptr);
  T5LayerSelfAttention self_attention{nullptr};
  T5LayerCrossAttention cross_attention{nullptr};
  T5LayerFF feed_forward{nullptr};
  torch::nn::ModuleList layer;
  bool is_decoder;
};
TORCH_MODULE(T5Block);

}  // namespace ladder
