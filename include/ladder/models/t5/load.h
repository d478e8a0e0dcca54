#pragma once
// Building a T5 from a Hugging Face folder (config.json + safetensors) or `arch:NAME`.
#include <functional>
#include <string>
#include <vector>
#include <torch/torch.h>

#include "ladder/io/safetensors.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/model.h"

namespace ladder {

struct ModelOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;  // storage dtype of the weights (fp32 or bf16)
  uint64_t seed = 0;                        // for arch:NAME random weights
  // int8 | nf4: every Linear weight and the embedding table are quantised as they are read
  // (or initialised) and dequantised to `dtype` when used; norms and relative biases keep `dtype`.
  QuantFormat quantization = QuantFormat::none;
};

struct LoadedModel {
  T5ForConditionalGeneration model{nullptr};
  std::string source;          // the directory or arch:NAME
  std::string tokenizer_path;  // <dir>/spiece.model when present
};

// `spec` is a directory or `arch:NAME`; throws LoadError/FormatError naming the problem.
LoadedModel load_model(const std::string& spec, const ModelOptions& options = {});

// Hugging Face's T5 initialisation (factor 1.0), from a seeded generator.
// `ready` (optional) sees each module's initial weight values (fp32, CPU) before they are
// written; it returns true when it took them (stored quantised), and the weight is not written.
using WeightReady = std::function<bool(torch::nn::Module& owner, const torch::Tensor& values)>;
void init_t5_weights(T5ForConditionalGenerationImpl& model, uint64_t seed, const WeightReady& ready = nullptr);
// Standard deviations from `config` (d_model, d_kv, num_heads, d_ff), which may be larger than
// the stack's own sizes (LST's side blocks take the backbone's).
void init_t5_stack(T5StackImpl& stack, const T5Config& config, torch::Generator& generator,
                   const WeightReady& ready = nullptr);

// Strict named loading: every parameter must be in the checkpoint with the same shape and a
// floating dtype; extra tensors are errors except the optional embed_tokens copies. The
// message lists missing / unexpected / wrong-shape tensors by name with a hint.
// `take` (optional) sees each parameter's name and value as read; when it returns true it kept
// the value (stored quantised) and the parameter is not written.
using TakeWeight = std::function<bool(const std::string& name, const torch::Tensor& value)>;
void load_weights(torch::nn::Module& module, const safetensors::Checkpoint& checkpoint,
                  const std::vector<std::string>& ignorable = {}, const TakeWeight& take = nullptr);

// A model is built on the CPU before it moves (in fp32, or quantised tensor by tensor): refuses
// (UsageError naming `spec`) one of `parameters` that cannot fit in the memory available.
void check_model_fits(double parameters, double embedding_elements, const std::string& spec, QuantFormat quantization);
// glibc keeps freed heap pages resident; the fp32 values and temporaries of each quantised
// weight would add up to a full-precision model's worth of RSS unless handed back.
void release_freed_memory();

// Quantised building, shared by every model's loader: callbacks that store each weight
// `quantizable` accepts quantised as soon as it is initialised or read, so at most one is ever
// held in fp32. Empty callbacks when options.quantization is none.
using IsQuantizable = std::function<bool(const torch::nn::Module&)>;
WeightReady quantize_when_initialised(const ModelOptions& options, IsQuantizable quantizable);
TakeWeight quantize_when_read(torch::nn::Module& model, const ModelOptions& options, const IsQuantizable& quantizable);

// A stable fingerprint of a model's parameter names and shapes (for adapter compatibility);
// a quantised weight counts under its logical name and shape, so the fingerprint does not
// depend on --backbone-dtype.
std::string architecture_checksum(const torch::nn::Module& module);

}  // namespace ladder
