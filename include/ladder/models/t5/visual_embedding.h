#pragma once
// VL-T5's VisualEmbedding (the authors' VL-T5/src/modeling_t5.py, CLIP-T5 settings): maps
// precomputed image features and their boxes to d_model vectors that join the text tokens.
// The baselines feed them to the backbone encoder (as VL-T5 does); LST feeds them to its side
// encoder only, so the frozen backbone never sees an image (docs/lst-design.md §10).
#include <torch/torch.h>

#include "ladder/models/t5/layers.h"

namespace ladder {

// The visual tokens of a batch. V = images per example x tokens per image.
struct VisualInput {
  torch::Tensor features;      // [B, V, F] float; undefined: a text-only batch
  torch::Tensor boxes;         // [B, V, 4] (x1, x2, y1, y2) in [0, 1]; undefined = zeros (the authors' CLIP path)
  torch::Tensor image_order;   // [B, V] int64: which image of the example (NLVR2: 0, 1); undefined = 0
  torch::Tensor object_order;  // [B, V] int64: token position within its image; undefined = 0..V-1
  bool defined() const { return features.defined(); }
  int64_t tokens() const { return features.defined() ? features.size(1) : 0; }
};
VisualInput visual_to(const VisualInput& visual, const torch::Device& device);
// Rows `rows` of every tensor (beam search repeats each example).
VisualInput visual_rows(const VisualInput& visual, const torch::Tensor& rows);

struct VisualConfig {
  int64_t feature_dim = 0;  // 0: no visual input
  int64_t images = 2;       // image-order embeddings (VL-T5's n_images)
  // Per-dimension mean and standard deviation of the training images' features; the embedding
  // reads (features - mean) / std. Empty: the features as stored (the authors'). Small or
  // offset features otherwise leave the projection to its bias and every image alike to the
  // model (docs/guide-vision-language.md, "Why VQA did not read the image").
  std::vector<float> feature_mean, feature_std;
  bool defined() const { return feature_dim > 0; }
};

// individual_vis_layer_norm = use_vis_layer_norm = use_vis_order_embedding = true (VL-T5's
// defaults, kept by the authors' LST script):
//   feat_embedding(F) + absolute_vis_pos_embedding([box, area]) + img_order_embedding(image)
//   + obj_order(object), each of the first two followed by its own T5 layer norm.
// The object-order embedding is a row of the shared token table counted from its end
// (row vocab - 1 - j): VL-T5 appends its <vis_extra_id_j> tokens there. It is the backbone's,
// so it is frozen wherever the table is.
class VisualEmbeddingImpl : public torch::nn::Module {
 public:
  VisualEmbeddingImpl(const VisualConfig& visual, int64_t d_model, double layer_norm_epsilon);
  // shared_rows: ids [B, V] -> rows of the token table [B, V, d] (the model's embed()).
  torch::Tensor forward(const VisualInput& input, int64_t vocab_size,
                        const std::function<torch::Tensor(const torch::Tensor&)>& shared_rows);

  torch::nn::Sequential feat_embedding{nullptr}, absolute_vis_pos_embedding{nullptr};
  torch::nn::Embedding img_order_embedding{nullptr};
  VisualConfig visual;

 private:
  torch::Tensor feature_mean_, feature_std_;  // [F] or undefined; not parameters (saved in the config)
};
TORCH_MODULE(VisualEmbedding);

}  // namespace ladder
