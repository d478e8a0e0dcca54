#pragma once
// softmax(q k^T + bias) v with dropout, for libtorch versions without a fused attention
// that accepts an additive bias. Training keeps only q, k, v and the bias for backward and
// recomputes the [Q, K] probabilities there (the dropout mask is regenerated from a seed),
// so no N x N tensor stays alive between forward and backward.
#include <torch/torch.h>

namespace ladder {

// q [B, H, Q, d], k/v [B, H, K, d], bias broadcastable to [B, H, Q, K] (may require grad:
// the relative position table is trainable). dropout applies to the probabilities.
torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& bias, double dropout, bool training);

}  // namespace ladder
