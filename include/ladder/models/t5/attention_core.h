#pragma once
// softmax(q k^T + bias) v with dropout, for libtorch versions without a fused attention
// that accepts an additive bias. Training keeps only q, k, v and the bias for backward and
// recomputes the [Q, K] probabilities there (the dropout mask is regenerated from a seed),
// so no N x N tensor stays alive between forward and backward.
#include <string>

#include <torch/torch.h>

namespace ladder {

// q [B, H, Q, d], k/v [B, H, K, d], bias broadcastable to [B, H, Q, K] (may require grad:
// the relative position table is trainable). dropout applies to the probabilities.
torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& bias, double dropout, bool training);

// The kernels T5 attention can run on.
enum class AttentionKernel {
  kPlain,      // no autograd graph: probabilities computed and freed at once
  kRecompute,  // attention_core: backward recomputes the probabilities
  kSdpa,       // at::scaled_dot_product_attention (libtorch >= 2.1): fused, no [Q, K] kept
};
const char* attention_kernel_name(AttentionKernel kernel);

// What attend() runs for these inputs. libtorch >= 2.1 takes scaled_dot_product_attention on
// CUDA always (its memory-efficient kernel returns the bias gradient); on the CPU when no
// dropout applies and the bias needs no gradient (the fused CPU kernel has neither, and would
// fall back to the math path, which keeps the probabilities). Otherwise: kPlain without an
// autograd graph, kRecompute with one. libtorch 1.x never has kSdpa.
AttentionKernel choose_attention_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& bias, double dropout, bool training);
// softmax(q k^T + bias) v (no 1/sqrt(d) scaling: T5) on the kernel choose_attention_kernel picks.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias,
                     double dropout, bool training);
// Short tag for benchmark records: the kernels training and evaluation use on `device` with this
// libtorch ("sdpa" = scaled_dot_product_attention, "recompute" = attention_core).
std::string attention_kernels_in_use(const torch::Device& device);

}  // namespace ladder
