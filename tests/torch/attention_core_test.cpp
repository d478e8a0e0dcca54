// The recomputing attention core against plain autograd, its dropout mask consistency, and the
// kernel choice: scaled_dot_product_attention (libtorch >= 2.1) against the recomputing core.
#include <gtest/gtest.h>

#include <torch/version.h>

#include "ladder/models/t5/attention_core.h"
#include "test_util.h"

namespace ladder {
namespace {

struct Inputs {
  torch::Tensor q, k, v, bias;
};

Inputs make_inputs() {
  torch::manual_seed(3);
  auto opts = torch::TensorOptions().dtype(torch::kDouble).requires_grad(true);
  Inputs in;
  in.q = torch::randn({2, 3, 5, 4}, opts);
  in.k = torch::randn({2, 3, 7, 4}, opts);
  in.v = torch::randn({2, 3, 7, 4}, opts);
  in.bias = torch::randn({1, 3, 5, 7}, opts);  // broadcast over the batch, like a position bias
  return in;
}

TEST(AttentionCore, MatchesPlainAutogradWithoutDropout) {
  Inputs a = make_inputs(), b = make_inputs();
  torch::Tensor weight = torch::randn({2, 3, 5, 4}, torch::kDouble);
  torch::Tensor ours = attention_core(a.q, a.k, a.v, a.bias, 0.1, /*training=*/false);
  (ours * weight).sum().backward();
  torch::Tensor probs = torch::softmax(torch::matmul(b.q, b.k.transpose(-1, -2)) + b.bias, -1);
  torch::Tensor reference = torch::matmul(probs, b.v);
  (reference * weight).sum().backward();
  EXPECT_LE(test::max_abs_diff(ours, reference), 1e-12);
  EXPECT_LE(test::max_abs_diff(a.q.grad(), b.q.grad()), 1e-10);
  EXPECT_LE(test::max_abs_diff(a.k.grad(), b.k.grad()), 1e-10);
  EXPECT_LE(test::max_abs_diff(a.v.grad(), b.v.grad()), 1e-10);
  EXPECT_LE(test::max_abs_diff(a.bias.grad(), b.bias.grad()), 1e-10);
  EXPECT_EQ(a.bias.grad().sizes(), a.bias.sizes());
}

TEST(AttentionCore, DropoutMaskIsTheSameInForwardAndBackward) {
  // out is linear in v for a fixed mask: <w, out(v + d) - out(v)> must equal <grad_v, d>
  // when both calls draw the same mask (same global seed).
  Inputs in = make_inputs();
  torch::Tensor weight = torch::randn({2, 3, 5, 4}, torch::kDouble);
  torch::Tensor delta = torch::randn({2, 3, 7, 4}, torch::kDouble);
  torch::manual_seed(11);
  torch::Tensor out = attention_core(in.q, in.k, in.v, in.bias, 0.5, true);
  (out * weight).sum().backward();
  torch::manual_seed(11);
  torch::Tensor shifted = attention_core(in.q, in.k, (in.v + delta).detach(), in.bias, 0.5, true);
  const double change = ((shifted - out) * weight).sum().item<double>();
  const double predicted = (in.v.grad() * delta).sum().item<double>();
  EXPECT_NEAR(change, predicted, 1e-9);
  // And dropout really dropped something: some probabilities are zeroed.
  torch::manual_seed(11);
  torch::Tensor no_drop = attention_core(in.q, in.k, in.v, in.bias, 0.0, true);
  EXPECT_GT(test::max_abs_diff(out, no_drop), 1e-3);
}

// Shaped like LST's side attention on t5-base (12 heads of d_kv 8), float32, with T5's
// additive bias: a position bias broadcast over the batch plus a padding mask of the dtype's
// lowest value (row 1 has two padded keys).
Inputs side_like_inputs(bool grad_qkv, bool grad_bias) {
  torch::manual_seed(5);
  Inputs in;
  in.q = torch::randn({2, 12, 6, 8}).requires_grad_(grad_qkv);
  in.k = torch::randn({2, 12, 9, 8}).requires_grad_(grad_qkv);
  in.v = torch::randn({2, 12, 9, 8}).requires_grad_(grad_qkv);
  torch::Tensor position = torch::randn({1, 12, 6, 9});
  torch::Tensor mask = torch::zeros({2, 1, 1, 9});
  mask.index_put_({1, 0, 0, torch::indexing::Slice(7, 9)}, std::numeric_limits<float>::lowest());
  in.bias = (position + mask).requires_grad_(grad_bias);
  return in;
}

constexpr bool kHasSdpa = TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1);

TEST(AttentionKernels, SdpaWithoutAutogradEqualsTheRecomputingCore) {
  Inputs in = side_like_inputs(false, false);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(choose_attention_kernel(in.q, in.k, in.v, in.bias, 0.1, false),
            kHasSdpa ? AttentionKernel::kSdpa : AttentionKernel::kPlain);
  torch::Tensor fused = attend(in.q, in.k, in.v, in.bias, 0.1, /*training=*/false);
  torch::Tensor reference = attention_core(in.q, in.k, in.v, in.bias, 0.1, false);
  EXPECT_LE(test::max_abs_diff(fused, reference), 1e-5);
}

TEST(AttentionKernels, SdpaWithAFrozenBiasGivesTheCoresGradients) {
  // Training without dropout and with a frozen bias (a frozen backbone's): the fused kernel on
  // libtorch 2.x, with the same outputs and q/k/v gradients as the recomputing core.
  Inputs a = side_like_inputs(true, false), b = side_like_inputs(true, false);
  EXPECT_EQ(choose_attention_kernel(a.q, a.k, a.v, a.bias, 0.0, true),
            kHasSdpa ? AttentionKernel::kSdpa : AttentionKernel::kRecompute);
  torch::Tensor weight = torch::randn({2, 12, 6, 8});
  torch::Tensor fused = attend(a.q, a.k, a.v, a.bias, 0.0, true);
  (fused * weight).sum().backward();
  torch::Tensor reference = attention_core(b.q, b.k, b.v, b.bias, 0.0, true);
  (reference * weight).sum().backward();
  EXPECT_LE(test::max_abs_diff(fused, reference), 1e-5);
  for (const auto& [ours, want] : {std::pair{a.q, b.q}, {a.k, b.k}, {a.v, b.v}})
    EXPECT_LE(test::max_rel_diff(ours.grad(), want.grad()), 1e-5);
}

TEST(AttentionKernels, TrainableBiasOrDropoutTakeTheRecomputingCoreOnTheCpu) {
  Inputs trainable = side_like_inputs(true, true);
  EXPECT_EQ(choose_attention_kernel(trainable.q, trainable.k, trainable.v, trainable.bias, 0.0, true),
            AttentionKernel::kRecompute);
  Inputs frozen = side_like_inputs(true, false);
  EXPECT_EQ(choose_attention_kernel(frozen.q, frozen.k, frozen.v, frozen.bias, 0.1, true), AttentionKernel::kRecompute);
  // The bias gradient through attend() equals plain autograd's.
  Inputs reference = side_like_inputs(true, true);
  torch::Tensor weight = torch::randn({2, 12, 6, 8});
  (attend(trainable.q, trainable.k, trainable.v, trainable.bias, 0.0, true) * weight).sum().backward();
  torch::Tensor probs = torch::softmax(torch::matmul(reference.q, reference.k.transpose(-1, -2)) + reference.bias, -1);
  (torch::matmul(probs, reference.v) * weight).sum().backward();
  EXPECT_LE(test::max_rel_diff(trainable.bias.grad(), reference.bias.grad()), 1e-5);
  EXPECT_FALSE(std::string(attention_kernels_in_use(torch::kCPU)).empty());
}

}  // namespace
}  // namespace ladder
