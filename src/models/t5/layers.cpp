#include "ladder/models/t5/layers.h"

#include <cmath>

#include "ladder/error.h"

namespace ladder {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias)
    : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  // A method's bias stays fp32 over a bf16 or quantised weight (BitFit); it is added after the
  // matmul, cast.
  const bool mixed_bias = bias.defined() && (weight_q || bias.scalar_type() != weight.scalar_type());
  torch::Tensor y = weight_q ? quantized_linear(x, weight_q->q)
                             : torch::nn::functional::linear(x, weight, bias.defined() && !mixed_bias ? bias : torch::Tensor());
  if (mixed_bias) y = y + bias.to(y.scalar_type());
  if (lora_A && !lora_merged) {
    torch::Tensor h = torch::dropout(x, lora_dropout, is_training());
    y = y + lora_B->forward(lora_A->forward(h.to(lora_A->weight.scalar_type()))).to(y.scalar_type()) *
                lora_scaling;
  }
  return y;
}

void LinearImpl::add_bias() {
  if (bias.defined()) return;
  // fp32 even over a bf16 weight: trainable tensors are fp32 master copies.
  bias = register_parameter("bias", torch::zeros({out_features}, torch::TensorOptions(torch::kFloat).device(device())));
}

void LinearImpl::add_lora(int64_t rank, double alpha, double dropout, torch::Generator generator) {
  if (rank <= 0) throw UsageError("LoRA rank must be positive, found " + std::to_string(rank));
  lora_A = register_module("lora_A", std::make_shared<LinearImpl>(in_features, rank));
  lora_B = register_module("lora_B", std::make_shared<LinearImpl>(rank, out_features));
  torch::NoGradGuard no_grad;
  // PEFT's default: A ~ kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  lora_A->weight.uniform_(-bound, bound, generator);
  lora_B->weight.zero_();
  lora_scaling = alpha / static_cast<double>(rank);
  lora_dropout = dropout;
}

void LinearImpl::merge_lora() {
  if (!lora_A || lora_merged) return;
  // Merging into int8/NF4 codes would requantise W + BA and lose most of the small update, so
  // the merged model would not compute what was trained: refused rather than silently degraded.
  if (weight_q)
    throw UsageError("LoRA merge: the backbone weight is stored as " + quant_format_name(weight_q->q.format) +
                     "; merging would requantise it and lose the update (keep the adapter unmerged, or load the "
                     "backbone with --backbone-dtype fp32 or bf16 to merge)");
  torch::NoGradGuard no_grad;
  torch::Tensor delta = torch::matmul(lora_B->weight.to(torch::kFloat), lora_A->weight.to(torch::kFloat));
  weight.copy_((weight.to(torch::kFloat) + delta * lora_scaling).to(weight.scalar_type()));
  lora_merged = true;
}

T5LayerNormImpl::T5LayerNormImpl(int64_t size, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({size}));
}

torch::Tensor T5LayerNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor xf = x.to(torch::kFloat);
  torch::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  torch::Tensor normed = xf * torch::rsqrt(variance + eps);
  if (weight.scalar_type() != torch::kFloat) normed = normed.to(weight.scalar_type());
  torch::Tensor out = weight * normed;
  // An fp32 weight trained over a bf16 stream (adapters train the norms) keeps the stream bf16.
  if (x.scalar_type() != torch::kFloat && out.scalar_type() != x.scalar_type()) out = out.to(x.scalar_type());
  return out;
}

AdapterImpl::AdapterImpl(int64_t d_model, int64_t bottleneck, torch::Generator generator,
                         const std::string& activation_)
    : activation(activation_) {
  down = register_module("down", Linear(d_model, bottleneck, true));
  up = register_module("up", Linear(bottleneck, d_model, true));
  torch::NoGradGuard no_grad;
  down->weight.normal_(0.0, 0.01, generator);
  up->weight.zero_();
}

torch::Tensor AdapterImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x.to(down->weight.scalar_type());
  return x + up->forward(apply_activation(down->forward(h), activation)).to(x.scalar_type());
}

torch::Tensor apply_activation(const torch::Tensor& x, const std::string& activation) {
  if (activation == "relu") return torch::relu(x);
  if (activation == "gelu_new") return torch::gelu(x, "tanh");
  if (activation == "gelu") return torch::gelu(x);
  if (activation == "silu") return torch::silu(x);
  throw Error("unsupported activation \"" + activation + "\"");
}

T5DenseActDenseImpl::T5DenseActDenseImpl(const T5Config& config)
    : activation(config.activation()), dropout(config.dropout_rate) {
  if (config.is_gated()) {
    wi_0 = register_module("wi_0", Linear(config.d_model, config.d_ff));
    wi_1 = register_module("wi_1", Linear(config.d_model, config.d_ff));
  } else {
    wi = register_module("wi", Linear(config.d_model, config.d_ff));
  }
  wo = register_module("wo", Linear(config.d_ff, config.d_model));
}

torch::Tensor T5DenseActDenseImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = wi ? apply_activation(wi->forward(x), activation)
                       : apply_activation(wi_0->forward(x), activation) * wi_1->forward(x);
  h = torch::dropout(h, dropout, is_training());
  return wo->forward(h);
}

}  // namespace ladder
