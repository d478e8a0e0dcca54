#include "ladder/models/tensor_io.h"

#include "ladder/error.h"

namespace ladder {

using safetensors::Dtype;

torch::ScalarType to_scalar_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::F64: return torch::kDouble;
    case Dtype::F32: return torch::kFloat;
    case Dtype::F16: return torch::kHalf;
    case Dtype::BF16: return torch::kBFloat16;
    case Dtype::I64: return torch::kLong;
    case Dtype::I32: return torch::kInt;
    case Dtype::I16: return torch::kShort;
    case Dtype::I8: return torch::kChar;
    case Dtype::U8: return torch::kByte;
    case Dtype::BOOL: return torch::kBool;
  }
  throw Error("unknown safetensors dtype");
}

Dtype to_safetensors_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kDouble: return Dtype::F64;
    case torch::kFloat: return Dtype::F32;
    case torch::kHalf: return Dtype::F16;
    case torch::kBFloat16: return Dtype::BF16;
    case torch::kLong: return Dtype::I64;
    case torch::kInt: return Dtype::I32;
    case torch::kShort: return Dtype::I16;
    case torch::kChar: return Dtype::I8;
    case torch::kByte: return Dtype::U8;
    case torch::kBool: return Dtype::BOOL;
    default: throw Error(std::string("cannot store torch dtype ") + c10::toString(type) + " in safetensors");
  }
}

torch::Tensor read_tensor(const safetensors::TensorInfo& info, const uint8_t* data) {
  torch::Tensor out = torch::empty(info.shape, torch::TensorOptions().dtype(to_scalar_type(info.dtype)));
  if (info.nbytes() > 0) std::memcpy(out.data_ptr(), data, info.nbytes());
  return out;
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& path) {
  safetensors::File file = safetensors::File::open(path);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& info : file.tensors()) tensors[info.name] = read_tensor(info, file.data(info));
  return tensors;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<safetensors::TensorView> views;
  for (const auto& [name, tensor] : tensors) {
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    keep_alive.push_back(cpu);
    safetensors::TensorView view;
    view.name = name;
    view.dtype = to_safetensors_dtype(cpu.scalar_type());
    view.shape = cpu.sizes().vec();
    view.data = cpu.data_ptr();
    view.nbytes = cpu.numel() * cpu.element_size();
    views.push_back(view);
  }
  safetensors::write(path, views, metadata);
}

}  // namespace ladder
