#pragma once
// Building blocks of T5, named like Hugging Face's modules so that named_parameters() keys
// equal checkpoint keys. Linear carries the optional method parts (BitFit bias, LoRA A/B)
// so that every method wraps this one definition instead of copying it.
#include <torch/torch.h>

#include "ladder/models/quantize.h"
#include "ladder/models/t5/config.h"

namespace ladder {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias = false);
  torch::Tensor forward(const torch::Tensor& x);

  // BitFit: a zero fp32 bias registered as "bias" (added in fp32 after a bf16 matmul).
  void add_bias();
  // LoRA (PEFT layout: lora_A.weight [r, in], lora_B.weight [out, r], B = 0 at start).
  void add_lora(int64_t rank, double alpha, double dropout, torch::Generator generator);
  // Folds B·A·scaling into weight; afterwards forward() no longer adds the LoRA branch.
  // Refused on a quantised weight (see merge_lora in layers.cpp).
  void merge_lora();
  bool has_lora() const { return lora_A != nullptr; }
  torch::Device device() const { return weight_q ? weight_q->q.codes.device() : weight.device(); }

  int64_t in_features, out_features;
  torch::Tensor weight;  // undefined once quantised: weight_q holds it (quantize_module_weight)
  std::shared_ptr<QuantizedWeightImpl> weight_q;
  torch::Tensor bias;  // undefined unless created with a bias or by add_bias()
  std::shared_ptr<LinearImpl> lora_A, lora_B;
  double lora_scaling = 0.0;
  double lora_dropout = 0.0;
  bool lora_merged = false;
};
TORCH_MODULE(Linear);

// T5's RMS norm: no mean, no bias, statistics in fp32. A bf16 input gives a bf16 output even
// when a method trains the weight in fp32.
class T5LayerNormImpl : public torch::nn::Module {
 public:
  T5LayerNormImpl(int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(T5LayerNorm);

// Bottleneck adapter (Houlsby-style) with its own residual: x + up(act(down(x))).
// up starts at zero so a fresh adapter is the identity. Its weights are fp32; a bf16 input is
// cast up and the output back.
class AdapterImpl : public torch::nn::Module {
 public:
  AdapterImpl(int64_t d_model, int64_t bottleneck, torch::Generator generator,
              const std::string& activation = "relu");
  torch::Tensor forward(const torch::Tensor& x);
  Linear down{nullptr}, up{nullptr};
  std::string activation;  // relu | gelu_new | silu (see apply_activation)
};
TORCH_MODULE(Adapter);

// The feed-forward sublayer's inner part: wi/wo (relu, gelu) or wi_0/wi_1/wo (gated).
class T5DenseActDenseImpl : public torch::nn::Module {
 public:
  T5DenseActDenseImpl(const T5Config& config);
  torch::Tensor forward(const torch::Tensor& x);
  Linear wi{nullptr}, wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};
  std::string activation;
  double dropout;
};
TORCH_MODULE(T5DenseActDense);

torch::Tensor apply_activation(const torch::Tensor& x, const std::string& activation);

}  // namespace ladder
