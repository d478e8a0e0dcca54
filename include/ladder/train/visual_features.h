#pragma once
// The image features of a vision-language run as the model reads them: per example its
// images' visual tokens (pooled to the run's count), concatenated image after image, with
// image and object order ids, as VL-T5's collate functions build vis_feats.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ladder/data/vl/features.h"
#include "ladder/models/t5/visual_embedding.h"
#include "ladder/train/batching.h"
#include "ladder/train/task_data.h"

namespace ladder::train {

class VisualFeatures {
 public:
  // tokens_per_image: 0 = as stored, else a square count (36 from 7x7 grids: the authors'
  // --downsample). memory_bytes bounds the features kept in memory between batches.
  VisualFeatures(std::shared_ptr<const data::FeatureSource> source, int64_t tokens_per_image,
                 int64_t memory_bytes = int64_t{1} << 30);

  // Every image the examples name exists (a LoadError naming the first missing id, the
  // feature path and `what`, e.g. "train split"); and the first one's width, as feature_dim().
  void check_images(const std::vector<TokenizedExample>& examples, const std::string& what);
  int64_t feature_dim();
  // Per-dimension mean and standard deviation of the features (as the model reads them,
  // pooled) over the distinct images the examples name, at most max_images of them (the first
  // ids in sorted order, so the same data gives the same numbers). A dimension that does not
  // vary gets deviation 1: centred, not amplified.
  std::pair<std::vector<float>, std::vector<float>> statistics(const std::vector<TokenizedExample>& examples,
                                                               std::size_t max_images = 2000) const;
  int64_t tokens_per_image() const { return tokens_per_image_; }

  // The visual tokens of examples[indices]: features [B, V, D] with V = images x tokens; all
  // rows must have the same number of images (batches hold one task).
  VisualInput batch(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices) const;
  const std::string& path() const { return path_; }

 private:
  const data::FeatureMatrix& image(const std::string& id) const;
  std::shared_ptr<const data::FeatureSource> source_;
  std::string path_;
  int64_t tokens_per_image_, memory_bytes_;
  int64_t width_ = 0;
  // Least recently used first; read features stay until memory_bytes is reached.
  mutable std::list<std::pair<std::string, data::FeatureMatrix>> lru_;
  mutable std::map<std::string, std::list<std::pair<std::string, data::FeatureMatrix>>::iterator> index_;
  mutable int64_t held_bytes_ = 0;
};

// The ablation that shows whether a model reads its images: every image id of the examples
// becomes another id of theirs (a fixed derangement), so each question meets another image.
// UsageError with fewer than two distinct images.
void swap_images(std::vector<TokenizedExample>& examples);

// The features of a vision-language task (task.features, pooled to task.visual_tokens);
// nullptr for a text task. UsageError when a vision-language task names no features.
std::shared_ptr<VisualFeatures> open_visual_features(const TaskSpec& task);

}  // namespace ladder::train
