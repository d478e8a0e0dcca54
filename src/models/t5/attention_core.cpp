#include "ladder/models/t5/attention_core.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

// scaled_dot_product_attention with an explicit scale (T5 uses none) exists from 2.1 on.
#define LADDER_HAS_SDPA (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))

namespace ladder {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool needs_graph(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias) {
  return torch::GradMode::is_enabled() &&
         (q.requires_grad() || k.requires_grad() || v.requires_grad() || (bias.defined() && bias.requires_grad()));
}

// Softmax runs in at least fp32 (bf16 inputs are upcast; double stays double).
torch::ScalarType softmax_type(const torch::Tensor& q) {
  return q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

torch::Tensor probabilities(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& bias) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2));
  if (bias.defined()) scores = scores + bias;
  return torch::softmax(scores.to(softmax_type(q)), -1).to(q.scalar_type());
}

// Inverted-dropout multiplier (0 or 1/(1-p)) drawn from a seeded CPU generator so backward
// can draw the same mask again.
torch::Tensor dropout_multiplier(const torch::Tensor& like, double p, int64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  torch::Tensor keep = torch::empty(like.sizes(), torch::kFloat).bernoulli_(1.0 - p, gen);
  return (keep / (1.0 - p)).to(like.options());
}

torch::Tensor reduce_to_shape(torch::Tensor grad, at::IntArrayRef shape) {
  for (int64_t dim = 0; dim < grad.dim(); ++dim)
    if (shape[dim] == 1 && grad.size(dim) != 1) grad = grad.sum(dim, /*keepdim=*/true);
  return grad;
}

struct AttentionCoreFunction : public torch::autograd::Function<AttentionCoreFunction> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor q, torch::Tensor k, torch::Tensor v,
                               torch::Tensor bias, double dropout, int64_t seed) {
    torch::Tensor p = probabilities(q, k, bias);
    if (dropout > 0) p = p * dropout_multiplier(p, dropout, seed);
    ctx->save_for_backward({q, k, v, bias});
    ctx->saved_data["dropout"] = dropout;
    ctx->saved_data["seed"] = seed;
    return torch::matmul(p, v);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &bias = saved[3];
    const double dropout = ctx->saved_data["dropout"].toDouble();
    const int64_t seed = ctx->saved_data["seed"].toInt();
    torch::Tensor grad_out = grad_outputs[0];
    torch::Tensor p = probabilities(q, k, bias);
    torch::Tensor multiplier = dropout > 0 ? dropout_multiplier(p, dropout, seed) : torch::Tensor();
    torch::Tensor p_dropped = dropout > 0 ? p * multiplier : p;
    torch::Tensor grad_v = torch::matmul(p_dropped.transpose(-1, -2), grad_out);
    torch::Tensor grad_p = torch::matmul(grad_out, v.transpose(-1, -2));
    if (dropout > 0) grad_p = grad_p * multiplier;
    p_dropped = torch::Tensor();
    // Softmax backward, in fp32 like the forward softmax.
    torch::Tensor pf = p.to(softmax_type(q)), gf = grad_p.to(softmax_type(q));
    torch::Tensor grad_scores = (pf * (gf - (gf * pf).sum(-1, true))).to(q.scalar_type());
    torch::Tensor grad_q = torch::matmul(grad_scores, k);
    torch::Tensor grad_k = torch::matmul(grad_scores.transpose(-1, -2), q);
    torch::Tensor grad_bias = bias.defined() ? reduce_to_shape(grad_scores, bias.sizes()) : torch::Tensor();
    return {grad_q, grad_k, grad_v, grad_bias, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& bias, double dropout, bool training) {
  const double p = training ? dropout : 0.0;
  if (!needs_graph(q, k, v, bias)) {
    torch::Tensor probs = probabilities(q, k, bias);
    return torch::matmul(torch::dropout(probs, p, p > 0), v);
  }
  // The seed comes from the global generator, so torch::manual_seed makes runs repeatable.
  const int64_t seed = p > 0 ? torch::randint(1, std::numeric_limits<int32_t>::max(), {1}, torch::kLong).item<int64_t>() : 0;
  return AttentionCoreFunction::apply(q, k, v, bias, p, seed);
}

const char* attention_kernel_name(AttentionKernel kernel) {
  switch (kernel) {
    case AttentionKernel::kPlain: return "plain (no autograd)";
    case AttentionKernel::kRecompute: return "recompute (ladder's autograd core)";
    case AttentionKernel::kSdpa: return "scaled_dot_product_attention";
  }
  return "?";
}

AttentionKernel choose_attention_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& bias, double dropout, bool training) {
  const bool graph = needs_graph(q, k, v, bias);
#if LADDER_HAS_SDPA
  if (q.is_cuda()) return AttentionKernel::kSdpa;
  const bool dropping = training && dropout > 0;
  const bool bias_gradient = graph && bias.defined() && bias.requires_grad();
  if (!dropping && !bias_gradient) return AttentionKernel::kSdpa;
#else
  (void)dropout;
  (void)training;
#endif
  return graph ? AttentionKernel::kRecompute : AttentionKernel::kPlain;
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias,
                     double dropout, bool training) {
#if LADDER_HAS_SDPA
  if (choose_attention_kernel(q, k, v, bias, dropout, training) == AttentionKernel::kSdpa) {
    const torch::Tensor mask = bias.defined() ? bias.to(q.scalar_type()) : torch::Tensor();
    return at::scaled_dot_product_attention(q, k, v, mask, training ? dropout : 0.0, /*is_causal=*/false,
                                            /*scale=*/1.0);
  }
#endif
  return attention_core(q, k, v, bias, dropout, training);
}

std::string attention_kernels_in_use(const torch::Device& device) {
#if LADDER_HAS_SDPA
  if (device.is_cuda()) return "sdpa";
  return "sdpa; recompute where dropout or a trainable bias applies";
#else
  (void)device;
  return "recompute; plain without autograd (libtorch " TORCH_VERSION ")";
#endif
}

}  // namespace ladder
