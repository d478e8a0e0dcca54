#pragma once
// Bridges the torch-free safetensors layer and torch tensors.
#include <map>
#include <string>
#include <torch/torch.h>

#include "ladder/io/safetensors.h"

namespace ladder {

torch::ScalarType to_scalar_type(safetensors::Dtype dtype);
safetensors::Dtype to_safetensors_dtype(torch::ScalarType type);  // throws for unsupported

// Copies one stored tensor into a new CPU tensor of the stored dtype.
torch::Tensor read_tensor(const safetensors::TensorInfo& info, const uint8_t* data);
// All tensors of a file (small files: inputs, golden outputs, adapters).
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path);
// Writes atomically; tensors are moved to contiguous CPU copies first.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ladder
