#pragma once
// T5 attention: no 1/sqrt(d) scaling, no biases, relative position buckets owned by the
// first block of a stack, optional key/value cache for generation.
#include <torch/torch.h>

#include "ladder/models/t5/config.h"
#include "ladder/models/t5/layers.h"

namespace ladder {

// Keys and values kept between decoding steps. Self-attention grows by one position per
// step; cross-attention is computed once from the encoder output.
struct AttentionCache {
  torch::Tensor key, value;  // [B, H, L, d_kv]
};

// T5's bucketing of relative positions (memory - query): exact for small distances,
// logarithmic up to max_distance; bidirectional in the encoder.
torch::Tensor relative_position_bucket(const torch::Tensor& relative_position, bool bidirectional,
                                       int64_t num_buckets, int64_t max_distance);

class T5AttentionImpl : public torch::nn::Module {
 public:
  T5AttentionImpl(const T5Config& config, bool has_relative_attention_bias, bool is_decoder);

  // x [B, Q, d]; kv_source: undefined for self-attention, else the encoder output [B, K, d].
  // bias: position bias plus mask, broadcastable to [B, H, Q, K].
  // cache: for self-attention the new keys/values are appended; for cross-attention they are
  // computed on first use and reused.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& kv_source,
                        const torch::Tensor& bias, AttentionCache* cache = nullptr);

  // [1, H, query_length, key_length] for queries at positions past_length.. .
  torch::Tensor compute_bias(int64_t query_length, int64_t key_length, int64_t past_length,
                             const torch::Device& device) const;

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::nn::Embedding relative_attention_bias{nullptr};
  int64_t num_heads, d_kv, num_buckets, max_distance;
  bool is_decoder;
  double dropout;
};
TORCH_MODULE(T5Attention);

}  // namespace ladder
