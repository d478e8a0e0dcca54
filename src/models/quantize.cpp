#include "ladder/models/quantize.h"

#include <algorithm>

#include "ladder/error.h"
#include "ladder/models/t5/layers.h"

namespace ladder {
namespace {

// A 256-entry table: byte b -> (code_book[b >> 4], code_book[b & 15]); one index_select then
// decodes two elements, with int32 indices (half the bytes of the fp32 output).
const torch::Tensor& nf4_pair_table() {
  static const torch::Tensor table = [] {
    const auto& book = nf4_code_book();
    torch::Tensor t = torch::empty({256, 2}, torch::kFloat);
    auto a = t.accessor<float, 2>();
    for (int b = 0; b < 256; ++b) {
      a[b][0] = book[b >> 4];
      a[b][1] = book[b & 15];
    }
    return t;
  }();
  return table;
}

// Codes [n, blocks * 32] + scales [n, blocks] -> fp32 [n, cols].
torch::Tensor decode_nf4(const torch::Tensor& codes, const torch::Tensor& scales, int64_t cols) {
  const int64_t n = codes.size(0), blocks = scales.size(1);
  torch::Tensor table = nf4_pair_table().to(codes.device());
  torch::Tensor values = table.index_select(0, codes.reshape({-1}).to(torch::kInt)).view({n, blocks, kNf4BlockSize});
  values.mul_(scales.unsqueeze(2));
  values = values.view({n, blocks * kNf4BlockSize});
  return cols == blocks * kNf4BlockSize ? values : values.narrow(1, 0, cols);
}

// Rows [begin, end) of a quantised tensor, without copying its codes.
QuantizedTensor row_slice(const QuantizedTensor& q, int64_t begin, int64_t end) {
  return {q.format, end - begin, q.cols, q.codes.narrow(0, begin, end - begin), q.scales.narrow(0, begin, end - begin)};
}

// Output rows dequantised at a time by quantized_linear: a vocabulary head (32k x 512 and
// more) would otherwise need its whole table in full precision, twice while it is decoded.
constexpr int64_t kChunkElements = int64_t{1} << 22;

// Rows quantised at a time while loading: each fp32 value needs about a dozen bytes of
// temporaries (absolute values, scaled values, bucket indices), so this keeps them near 12 MiB
// next to the table being quantised. Loading is not a hot loop; smaller blocks cost nothing.
constexpr int64_t kQuantizeChunkElements = int64_t{1} << 20;

int64_t rows_per(int64_t elements, const QuantizedTensor& q) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(1, q.cols));
}

int64_t chunk_rows(const QuantizedTensor& q) { return rows_per(kChunkElements, q); }

torch::Tensor chunked_forward(const torch::Tensor& x, const QuantizedTensor& q) {
  const int64_t step = chunk_rows(q);
  if (step >= q.rows) return torch::nn::functional::linear(x, dequantize(q, x.scalar_type()));
  std::vector<torch::Tensor> parts;
  for (int64_t r = 0; r < q.rows; r += step)
    parts.push_back(torch::nn::functional::linear(x, dequantize(row_slice(q, r, std::min(q.rows, r + step)), x.scalar_type())));
  return torch::cat(parts, -1);
}

// d(x W^T)/dx: grad_y W, summed over the same row chunks.
torch::Tensor chunked_input_grad(const torch::Tensor& grad_y, const QuantizedTensor& q) {
  const int64_t step = chunk_rows(q);
  if (step >= q.rows) return torch::matmul(grad_y, dequantize(q, grad_y.scalar_type()));
  torch::Tensor grad_x;
  for (int64_t r = 0; r < q.rows; r += step) {
    const int64_t end = std::min(q.rows, r + step);
    torch::Tensor part = torch::matmul(grad_y.narrow(-1, r, end - r), dequantize(row_slice(q, r, end), grad_y.scalar_type()));
    grad_x = grad_x.defined() ? grad_x.add_(part) : part;
  }
  return grad_x;
}

// Gives a caller the protected parameter table of any module, to remove a replaced "weight".
struct ParameterTable : torch::nn::Module {
  static void erase(torch::nn::Module& module, const std::string& name) {
    (module.*(&ParameterTable::parameters_)).erase(name);
  }
};

class QuantizedLinearFunction : public torch::autograd::Function<QuantizedLinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor codes,
                               torch::Tensor scales, int64_t format, int64_t rows, int64_t cols) {
    ctx->save_for_backward({codes, scales});
    ctx->saved_data["format"] = format;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["cols"] = cols;
    return chunked_forward(x, QuantizedTensor{static_cast<QuantFormat>(format), rows, cols, codes, scales});
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    QuantizedTensor q{static_cast<QuantFormat>(ctx->saved_data["format"].toInt()), ctx->saved_data["rows"].toInt(),
                      ctx->saved_data["cols"].toInt(), saved[0], saved[1]};
    torch::Tensor grad_x = chunked_input_grad(grads[0], q);
    return {grad_x, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::string quant_format_name(QuantFormat format) {
  switch (format) {
    case QuantFormat::int8: return "int8";
    case QuantFormat::nf4: return "nf4";
    default: return "none";
  }
}

BackboneStorage backbone_storage(const std::string& backbone_dtype, const std::string& precision) {
  BackboneStorage s;
  if (precision != "fp32" && precision != "bf16")
    throw UsageError("--precision: expected fp32 or bf16 (fp16 overflows in T5), found \"" + precision + "\"");
  const std::string& storage = backbone_dtype.empty() ? precision : backbone_dtype;
  if (storage == "fp32" || storage == "bf16") {
    s.dtype = storage == "bf16" ? torch::kBFloat16 : torch::kFloat;
    return s;
  }
  s.dtype = precision == "bf16" ? torch::kBFloat16 : torch::kFloat;
  if (storage == "int8") s.quantization = QuantFormat::int8;
  else if (storage == "nf4") s.quantization = QuantFormat::nf4;
  else throw UsageError("--backbone-dtype: expected fp32, bf16, int8 or nf4, found \"" + storage + "\"");
  return s;
}

const std::array<float, 16>& nf4_code_book() {
  static const std::array<float, 16> book = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
      0.7229568362236023f, 1.0f};
  return book;
}

int64_t QuantizedTensor::bytes() const {
  return codes.numel() * static_cast<int64_t>(codes.element_size()) +
         scales.numel() * static_cast<int64_t>(scales.element_size());
}

namespace {

// One block of rows, fp32 [n, cols] -> codes and scales (see QuantizedTensor).
std::pair<torch::Tensor, torch::Tensor> quantize_rows(torch::Tensor w, QuantFormat format) {
  if (format == QuantFormat::int8) {
    torch::Tensor scales = w.abs().amax(1) / 127.0;
    // An all-zero row has scale 0; dividing by 1 there gives codes 0 and the same values.
    torch::Tensor divisor = torch::where(scales > 0, scales, torch::ones_like(scales));
    return {(w / divisor.unsqueeze(1)).round_().clamp_(-127, 127).to(torch::kChar), scales};
  }
  const int64_t rows = w.size(0), cols = w.size(1);
  const int64_t blocks = (cols + kNf4BlockSize - 1) / kNf4BlockSize, padded = blocks * kNf4BlockSize;
  if (padded != cols) w = torch::constant_pad_nd(w, {0, padded - cols});
  torch::Tensor wb = w.view({rows, blocks, kNf4BlockSize});
  torch::Tensor scales = wb.abs().amax(2);
  torch::Tensor divisor = torch::where(scales > 0, scales, torch::ones_like(scales));
  // Nearest code book value: bucketize against the midpoints between neighbouring values.
  const auto& book = nf4_code_book();
  std::vector<float> mids;
  for (size_t i = 0; i + 1 < book.size(); ++i) mids.push_back(0.5f * (book[i] + book[i + 1]));
  torch::Tensor boundaries = torch::tensor(mids, torch::kFloat).to(w.device());
  torch::Tensor idx = torch::bucketize(wb / divisor.unsqueeze(2), boundaries, /*out_int32=*/true).view({rows, padded / 2, 2});
  return {(idx.select(2, 0) * 16 + idx.select(2, 1)).to(torch::kByte), scales};
}

}  // namespace

QuantizedTensor quantize(const torch::Tensor& weight, QuantFormat format) {
  if (weight.dim() != 2) throw Error("quantize: expected a 2-D weight, found " + std::to_string(weight.dim()) + "-D");
  if (format != QuantFormat::int8 && format != QuantFormat::nf4) throw Error("quantize: no format given");
  torch::NoGradGuard no_grad;
  QuantizedTensor q;
  q.format = format;
  q.rows = weight.size(0);
  q.cols = weight.size(1);
  // In blocks of rows, so the fp32 temporaries stay small next to a vocabulary table.
  const int64_t step = rows_per(kQuantizeChunkElements, q);
  for (int64_t r = 0; r < q.rows; r += step) {
    const int64_t n = std::min(q.rows, r + step) - r;
    auto [codes, scales] = quantize_rows(weight.narrow(0, r, n).detach().to(torch::kFloat).contiguous(), format);
    if (!q.codes.defined()) {
      std::vector<int64_t> code_shape = codes.sizes().vec(), scale_shape = scales.sizes().vec();
      code_shape[0] = scale_shape[0] = q.rows;
      q.codes = torch::empty(code_shape, codes.options());
      q.scales = torch::empty(scale_shape, scales.options());
    }
    q.codes.narrow(0, r, n).copy_(codes);
    q.scales.narrow(0, r, n).copy_(scales);
  }
  return q;
}

torch::Tensor dequantize(const QuantizedTensor& q, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  if (q.format == QuantFormat::int8) return q.codes.to(torch::kFloat).mul_(q.scales.unsqueeze(1)).to(dtype);
  if (q.format == QuantFormat::nf4) return decode_nf4(q.codes, q.scales, q.cols).to(dtype);
  throw Error("dequantize: tensor is not quantised");
}

torch::Tensor dequantize_rows(const QuantizedTensor& q, const torch::Tensor& ids, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  torch::Tensor flat = ids.reshape({-1});
  torch::Tensor codes = q.codes.index_select(0, flat);
  torch::Tensor scales = q.scales.index_select(0, flat);
  torch::Tensor rows;
  if (q.format == QuantFormat::int8) rows = codes.to(torch::kFloat).mul_(scales.unsqueeze(1));
  else if (q.format == QuantFormat::nf4) rows = decode_nf4(codes, scales, q.cols);
  else throw Error("dequantize_rows: tensor is not quantised");
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(q.cols);
  return rows.to(dtype).view(shape);
}

torch::Tensor quantized_linear(const torch::Tensor& x, const QuantizedTensor& q) {
  if (!(torch::GradMode::is_enabled() && x.requires_grad())) return chunked_forward(x, q);
  return QuantizedLinearFunction::apply(x, q.codes, q.scales, static_cast<int64_t>(q.format), q.rows, q.cols);
}

QuantizedWeightImpl::QuantizedWeightImpl(QuantizedTensor q_, torch::ScalarType compute_dtype_)
    : q(std::move(q_)), compute_dtype(compute_dtype_) {
  q.codes = register_buffer("codes", q.codes);
  q.scales = register_buffer("scales", q.scales);
}

void QuantizedWeightImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  // Only unquantised tensors follow a dtype; the codes' format is fixed at load time, and what
  // they dequantise to follows the dtype the model is moved to.
  compute_dtype = dtype;
  to(device, non_blocking);
}

void QuantizedWeightImpl::to(torch::Dtype dtype, bool) { compute_dtype = dtype; }

void QuantizedWeightImpl::to(torch::Device device, bool non_blocking) {
  q.codes.set_data(q.codes.to(device, non_blocking));
  q.scales.set_data(q.scales.to(device, non_blocking));
}

void quantize_module_weight(torch::nn::Module& module, QuantFormat format, torch::ScalarType compute_dtype,
                            const torch::Tensor& values) {
  if (format == QuantFormat::none || quantized_weight_of(module)) return;
  auto* linear = dynamic_cast<LinearImpl*>(&module);
  auto* embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(&module);
  if (!linear && !embedding) throw Error("quantize: only Linear and Embedding weights can be quantised");
  torch::Tensor& weight = linear ? linear->weight : embedding->weight;
  if (values.defined() && values.sizes() != weight.sizes())
    throw Error("quantize: values do not have the weight's shape");
  auto stored = module.register_module(
      "weight_q", QuantizedWeight(quantize(values.defined() ? values : weight, format), compute_dtype));
  if (linear) linear->weight_q = stored;
  ParameterTable::erase(module, "weight");
  weight = torch::Tensor();  // the module's own handle was the last one: the fp32 storage goes
}

std::shared_ptr<QuantizedWeightImpl> quantized_weight_of(const torch::nn::Module& module) {
  for (const auto& child : module.named_children())
    if (child.key() == "weight_q") return std::dynamic_pointer_cast<QuantizedWeightImpl>(child.value());
  return nullptr;
}

QuantFormat quantization_of(const torch::nn::Module& module) {
  for (const auto& m : module.modules(/*include_self=*/false))
    if (auto* w = dynamic_cast<const QuantizedWeightImpl*>(m.get())) return w->q.format;
  return QuantFormat::none;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> logical_parameters(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  // named_parameters() order: each module's own parameters, modules in pre-order; a quantised
  // "weight" was registered first in its module (Linear and Embedding register it first).
  auto add = [&out](const std::string& prefix, const torch::nn::Module& m) {
    if (dynamic_cast<const QuantizedWeightImpl*>(&m)) return;
    if (auto w = quantized_weight_of(m)) out.push_back({prefix + "weight", {w->q.rows, w->q.cols}});
    for (const auto& p : m.named_parameters(/*recurse=*/false)) out.push_back({prefix + p.key(), p.value().sizes().vec()});
  };
  add("", module);
  for (const auto& item : module.named_modules("", /*include_self=*/false)) add(item.key() + ".", *item.value());
  return out;
}

torch::Tensor logical_weight(const torch::nn::Module& module, const std::string& name) {
  for (const auto& item : module.named_parameters())
    if (item.key() == name) return item.value().detach().to(torch::kFloat).cpu();
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    const std::string path = name.substr(0, name.size() - suffix.size());
    for (const auto& item : module.named_modules("", /*include_self=*/false))
      if (item.key() == path)
        if (auto w = quantized_weight_of(*item.value())) return dequantize(w->q, torch::kFloat).cpu();
  }
  throw Error("the backbone has no parameter " + name);
}

int64_t held_bytes(const torch::nn::Module& module, bool frozen_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters())
    if (!frozen_only || !p.requires_grad()) n += p.numel() * static_cast<int64_t>(p.element_size());
  for (const auto& b : module.buffers()) n += b.numel() * static_cast<int64_t>(b.element_size());
  return n;
}

}  // namespace ladder
