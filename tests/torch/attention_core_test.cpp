// The recomputing attention core against plain autograd, and its dropout mask consistency.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ladder
