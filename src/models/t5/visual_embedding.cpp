#include "ladder/models/t5/visual_embedding.h"

#include <cmath>

#include "ladder/error.h"

namespace ladder {

VisualInput visual_to(const VisualInput& v, const torch::Device& device) {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(v.features), move(v.boxes), move(v.image_order), move(v.object_order)};
}

VisualInput visual_rows(const VisualInput& v, const torch::Tensor& rows) {
  auto pick = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, rows.to(t.device())) : t; };
  return {pick(v.features), pick(v.boxes), pick(v.image_order), pick(v.object_order)};
}

namespace {

// PyTorch's default nn.Linear initialisation (U(+-1/sqrt(in)) for weight and bias): VL-T5's
// _init_weights leaves plain Linear layers to it.
void default_linear_init(LinearImpl& linear, torch::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(linear.in_features));
  linear.weight.copy_(torch::empty(linear.weight.sizes()).uniform_(-bound, bound, gen));
  if (linear.bias.defined()) linear.bias.copy_(torch::empty(linear.bias.sizes()).uniform_(-bound, bound, gen));
}

}  // namespace

VisualEmbeddingImpl::VisualEmbeddingImpl(const VisualConfig& visual_, int64_t d_model, double eps) : visual(visual_) {
  if (visual.feature_dim <= 0) throw UsageError("visual embedding: the feature width must be positive");
  if (visual.images < 1) throw UsageError("visual embedding: at least one image per example");
  torch::Generator gen = at::detail::createCPUGenerator(visual.feature_dim * 1000003 + d_model);
  Linear feat(visual.feature_dim, d_model, true), pos(5, d_model, true);
  default_linear_init(*feat, gen);
  default_linear_init(*pos, gen);
  feat_embedding = register_module("feat_embedding", torch::nn::Sequential(feat, T5LayerNorm(d_model, eps)));
  absolute_vis_pos_embedding =
      register_module("absolute_vis_pos_embedding", torch::nn::Sequential(pos, T5LayerNorm(d_model, eps)));
  img_order_embedding = register_module("img_order_embedding", torch::nn::Embedding(visual.images, d_model));
  if (!visual.feature_mean.empty() || !visual.feature_std.empty()) {
    const auto width = static_cast<std::size_t>(visual.feature_dim);
    if (visual.feature_mean.size() != width || visual.feature_std.size() != width)
      throw UsageError("visual embedding: the feature statistics have " + std::to_string(visual.feature_mean.size()) +
                       " means and " + std::to_string(visual.feature_std.size()) + " deviations for " +
                       std::to_string(width) + " features");
    for (std::size_t i = 0; i < width; ++i)
      if (!std::isfinite(visual.feature_mean[i]) || !std::isfinite(visual.feature_std[i]) || visual.feature_std[i] <= 0)
        throw UsageError("visual embedding: feature " + std::to_string(i) + " has mean " +
                         std::to_string(visual.feature_mean[i]) + " and deviation " +
                         std::to_string(visual.feature_std[i]) + " (a positive, finite deviation is needed)");
    feature_mean_ = torch::tensor(visual.feature_mean);
    feature_std_ = torch::tensor(visual.feature_std);
  }
  torch::NoGradGuard no_grad;
  img_order_embedding->weight.copy_(torch::empty(img_order_embedding->weight.sizes()).normal_(0.0, 1.0, gen));
}

torch::Tensor VisualEmbeddingImpl::forward(const VisualInput& input, int64_t vocab_size,
                                           const std::function<torch::Tensor(const torch::Tensor&)>& shared_rows) {
  const torch::Tensor& feats = input.features;
  if (feats.dim() != 3 || feats.size(2) != visual.feature_dim)
    throw UsageError("visual features have shape " + c10::str(feats.sizes()) + ", expected [B, V, " +
                     std::to_string(visual.feature_dim) + "]");
  const int64_t B = feats.size(0), V = feats.size(1);
  if (V >= vocab_size) throw UsageError("visual input: " + std::to_string(V) + " tokens exceed the object-order rows");
  auto long_options = torch::TensorOptions().dtype(torch::kLong).device(feats.device());
  const auto dtype = img_order_embedding->weight.scalar_type();
  torch::Tensor boxes = input.boxes.defined() ? input.boxes.to(dtype) : torch::zeros({B, V, 4}, feats.options().dtype(dtype));
  torch::Tensor area = (boxes.select(2, 3) - boxes.select(2, 2)) * (boxes.select(2, 1) - boxes.select(2, 0));
  torch::Tensor position = torch::cat({boxes, area.unsqueeze(2)}, 2);
  torch::Tensor image = input.image_order.defined() ? input.image_order : torch::zeros({B, V}, long_options);
  torch::Tensor object = input.object_order.defined() ? input.object_order
                                                      : torch::arange(V, long_options).unsqueeze(0).expand({B, V});
  torch::Tensor object_rows = shared_rows(vocab_size - 1 - object).to(dtype);
  torch::Tensor features = feats.to(torch::kFloat);
  if (feature_mean_.defined())
    features = (features - feature_mean_.to(features.device())) / feature_std_.to(features.device());
  return feat_embedding->forward(features.to(dtype)) + absolute_vis_pos_embedding->forward(position) +
         img_order_embedding->forward(image) + object_rows;
}

}  // namespace ladder
