#pragma once
// Weight-only quantisation of a frozen backbone: int8 with one absmax scale per row (output
// channel) and NF4 (QLoRA's 4-bit normal-float code book) with one absmax scale per block of
// 64 elements along a row. Weights are dequantised just in time, one tensor at a time, so at
// most one layer's weight exists in full precision.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ladder {

enum class QuantFormat { none, int8, nf4 };

std::string quant_format_name(QuantFormat format);  // "none" | "int8" | "nf4"

// What --backbone-dtype asks for: fp32 and bf16 store (and run) the backbone in that dtype;
// int8 and nf4 store it quantised and dequantise to the compute dtype set by --precision.
struct BackboneStorage {
  torch::ScalarType dtype = torch::kFloat;  // unquantised tensors, and what weights dequantise to
  QuantFormat quantization = QuantFormat::none;
};
// `backbone_dtype` is fp32 | bf16 | int8 | nf4, or empty for "as --precision" (fp32 | bf16).
BackboneStorage backbone_storage(const std::string& backbone_dtype, const std::string& precision);

constexpr int64_t kNf4BlockSize = 64;
// The 16 NF4 values of QLoRA (Dettmers et al. 2023), as bitsandbytes ships them.
const std::array<float, 16>& nf4_code_book();

// A quantised 2-D weight [rows, cols].
// int8: codes int8 [rows, cols], scales fp32 [rows]; value = code * scale.
// nf4: codes uint8 [rows, blocks * 32] (rows padded to whole blocks of 64; the first of two
// elements in the high nibble), scales fp32 [rows, blocks] (the block absmax);
// value = code_book[code] * scale.
struct QuantizedTensor {
  QuantFormat format = QuantFormat::none;
  int64_t rows = 0, cols = 0;
  torch::Tensor codes, scales;
  int64_t bytes() const;
};

QuantizedTensor quantize(const torch::Tensor& weight, QuantFormat format);
torch::Tensor dequantize(const QuantizedTensor& q, torch::ScalarType dtype);
// Rows `ids` (any shape of int64 indices) dequantised: [ids..., cols]; the rest stays packed.
torch::Tensor dequantize_rows(const QuantizedTensor& q, const torch::Tensor& ids, torch::ScalarType dtype);
// x @ W^T with W dequantised in forward and again in backward, so autograd keeps only the
// codes (never a dequantised copy) for the input's gradient. No gradient flows into W.
torch::Tensor quantized_linear(const torch::Tensor& x, const QuantizedTensor& q);

// The storage of one quantised weight, registered as the child "weight_q" of the module whose
// "weight" parameter it replaces (buffers codes + scales). Its to() moves the buffers between
// devices but never changes their dtypes: a model-wide to(dtype) must not turn codes into floats.
class QuantizedWeightImpl : public torch::nn::Module {
 public:
  QuantizedWeightImpl(QuantizedTensor q, torch::ScalarType compute_dtype);
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  QuantizedTensor q;
  torch::ScalarType compute_dtype;  // what lookups without an input dtype dequantise to
};
TORCH_MODULE(QuantizedWeight);

// Quantises `module`'s "weight" parameter (a Linear or an Embedding), or `values` of its shape
// in its place when given: registers "weight_q", removes the parameter, releases its storage.
void quantize_module_weight(torch::nn::Module& module, QuantFormat format, torch::ScalarType compute_dtype,
                            const torch::Tensor& values = torch::Tensor());
// The quantised storage of a module's weight, or nullptr.
std::shared_ptr<QuantizedWeightImpl> quantized_weight_of(const torch::nn::Module& module);
// The format of the first quantised weight found in `module`, or none.
QuantFormat quantization_of(const torch::nn::Module& module);

// The parameters `module` would have unquantised (Hugging Face names and shapes, in
// registration order): a quantised weight counts as the "weight" it replaced.
std::vector<std::pair<std::string, std::vector<int64_t>>> logical_parameters(const torch::nn::Module& module);
// A weight by its logical name as an fp32 tensor (dequantised when stored quantised).
torch::Tensor logical_weight(const torch::nn::Module& module, const std::string& name);
// Bytes really held by parameters and buffers (codes and scales of quantised weights included).
int64_t held_bytes(const torch::nn::Module& module, bool frozen_only);

}  // namespace ladder
