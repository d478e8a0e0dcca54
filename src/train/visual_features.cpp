#include "ladder/train/visual_features.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "ladder/data/shuffle.h"
#include "ladder/error.h"

namespace ladder::train {
namespace {

// Any fixed value.
constexpr uint64_t kSwapImagesSeed = 0x5eed1ab1e;

}  // namespace

VisualFeatures::VisualFeatures(std::shared_ptr<const data::FeatureSource> source, int64_t tokens_per_image,
                               int64_t memory_bytes)
    : source_(std::move(source)), path_(source_->path()), tokens_per_image_(tokens_per_image),
      memory_bytes_(memory_bytes) {
  if (tokens_per_image_ < 0) throw UsageError("--visual-tokens must be 0 (as stored) or positive");
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens_per_image_))));
  if (tokens_per_image_ > 0 && side * side != tokens_per_image_)
    throw UsageError(expected_found("--visual-tokens", "a square number of grid cells (36, 49, ...) or 0",
                                    std::to_string(tokens_per_image_)));
}

const data::FeatureMatrix& VisualFeatures::image(const std::string& id) const {
  auto found = index_.find(id);
  if (found != index_.end()) {
    lru_.splice(lru_.end(), lru_, found->second);
    return found->second->second;
  }
  data::FeatureMatrix m = source_->read(id);
  if (tokens_per_image_ > 0 && m.rows != tokens_per_image_) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens_per_image_))));
    if (m.rows < tokens_per_image_)
      throw FormatError(path_ + ": image " + id + " has " + std::to_string(m.rows) + " feature rows, fewer than " +
                        "--visual-tokens " + std::to_string(tokens_per_image_));
    m = data::pool_grid(m, side);
  }
  if (width_ > 0 && m.cols != width_)
    throw FormatError(path_ + ": image " + id + " has features of width " + std::to_string(m.cols) + ", expected " +
                      std::to_string(width_) + " (the width of the run's other images)");
  const int64_t bytes = static_cast<int64_t>(m.values.size() * sizeof(float));
  while (!lru_.empty() && held_bytes_ + bytes > memory_bytes_) {
    held_bytes_ -= static_cast<int64_t>(lru_.front().second.values.size() * sizeof(float));
    index_.erase(lru_.front().first);
    lru_.pop_front();
  }
  lru_.emplace_back(id, std::move(m));
  held_bytes_ += bytes;
  index_[id] = std::prev(lru_.end());
  return lru_.back().second;
}

void VisualFeatures::check_images(const std::vector<TokenizedExample>& examples, const std::string& what) {
  for (const auto& e : examples) {
    if (e.image_ids.empty()) throw UsageError(what + ": an example without images in a vision-language run");
    for (const auto& id : e.image_ids)
      if (!source_->contains(id)) {
        // read() says which file and why (missing file, dataset, tensor, or not readable).
        try {
          source_->read(id);
        } catch (const LoadError& error) {
          throw LoadError(std::string(error.what()) + " (named by the " + what + ")");
        } catch (const FormatError& error) {
          throw FormatError(std::string(error.what()) + " (named by the " + what + ")");
        }
        throw LoadError(path_ + ": no features for image " + id + " (named by the " + what + ")");
      }
  }
  if (!examples.empty() && width_ == 0) width_ = image(examples.front().image_ids.front()).cols;
}

int64_t VisualFeatures::feature_dim() {
  if (width_ == 0) throw Error("internal: feature_dim before any image was checked");
  return width_;
}

std::pair<std::vector<float>, std::vector<float>> VisualFeatures::statistics(
    const std::vector<TokenizedExample>& examples, std::size_t max_images) const {
  std::set<std::string> distinct;
  for (const auto& e : examples) distinct.insert(e.image_ids.begin(), e.image_ids.end());
  if (distinct.empty()) throw UsageError("feature statistics: the examples name no image");
  std::vector<double> sum, sum_sq;
  int64_t rows = 0;
  std::size_t read = 0;
  for (const auto& id : distinct) {
    if (read++ == max_images) break;
    const data::FeatureMatrix& m = image(id);
    if (sum.empty()) {
      sum.assign(static_cast<std::size_t>(m.cols), 0.0);
      sum_sq.assign(sum.size(), 0.0);
    }
    for (int64_t r = 0; r < m.rows; ++r)
      for (std::size_t c = 0; c < sum.size(); ++c) {
        const double v = m.values[static_cast<std::size_t>(r) * sum.size() + c];
        sum[c] += v;
        sum_sq[c] += v * v;
      }
    rows += m.rows;
  }
  std::vector<float> mean(sum.size()), deviation(sum.size());
  for (std::size_t c = 0; c < sum.size(); ++c) {
    const double mu = sum[c] / static_cast<double>(rows);
    const double variance = std::max(0.0, sum_sq[c] / static_cast<double>(rows) - mu * mu);
    mean[c] = static_cast<float>(mu);
    deviation[c] = variance > 1e-12 ? static_cast<float>(std::sqrt(variance)) : 1.0f;
  }
  return {mean, deviation};
}

VisualInput VisualFeatures::batch(const std::vector<TokenizedExample>& examples,
                                  const std::vector<std::size_t>& indices) const {
  const std::size_t images = examples.at(indices.front()).image_ids.size();
  if (images == 0) throw UsageError("a vision-language batch holds an example without images");
  int64_t tokens = 0, width = 0;
  torch::Tensor features;
  float* out = nullptr;
  for (std::size_t r = 0; r < indices.size(); ++r) {
    const auto& ids = examples.at(indices[r]).image_ids;
    if (ids.size() != images)
      throw Error("internal: a batch mixes examples with " + std::to_string(images) + " and " +
                  std::to_string(ids.size()) + " images");
    for (const auto& id : ids) {
      // Copied at once: reading the next image may evict this one.
      const data::FeatureMatrix& m = image(id);
      if (!out) {
        tokens = m.rows;
        width = m.cols;
        features = torch::empty({static_cast<int64_t>(indices.size()), static_cast<int64_t>(images) * tokens, width});
        out = features.data_ptr<float>();
      } else if (m.rows != tokens || m.cols != width) {
        throw FormatError(path_ + ": image " + id + " has " + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
                          " features where the batch's other images have " + std::to_string(tokens) + " x " +
                          std::to_string(width) + " (give --visual-tokens to pool grids to one size)");
      }
      out = std::copy(m.values.begin(), m.values.end(), out);
    }
  }
  const auto B = static_cast<int64_t>(indices.size()), n = static_cast<int64_t>(images);
  VisualInput visual;
  visual.features = features;
  auto long_options = torch::TensorOptions().dtype(torch::kLong);
  // Image k's tokens carry image order k and object orders 0..tokens-1, as VL-T5's NLVR2 path.
  visual.image_order =
      torch::arange(n, long_options).repeat_interleave(tokens).unsqueeze(0).expand({B, n * tokens}).contiguous();
  visual.object_order = torch::arange(tokens, long_options).repeat({n}).unsqueeze(0).expand({B, n * tokens}).contiguous();
  return visual;
}

void swap_images(std::vector<TokenizedExample>& examples) {
  std::set<std::string> distinct;
  for (const auto& e : examples) distinct.insert(e.image_ids.begin(), e.image_ids.end());
  if (distinct.size() < 2) throw UsageError("--swap-images needs at least two images in the split");
  const std::vector<std::string> ids(distinct.begin(), distinct.end());
  // Each id in a shuffled cycle takes the next one's features: no image keeps its own, and
  // the same split always gets the same swap.
  const std::vector<std::size_t> cycle = data::shuffled_indices(ids.size(), kSwapImagesSeed);
  std::map<std::string, std::string> other;
  for (std::size_t i = 0; i < cycle.size(); ++i) other[ids[cycle[i]]] = ids[cycle[(i + 1) % cycle.size()]];
  for (auto& e : examples)
    for (auto& id : e.image_ids) id = other.at(id);
}

std::shared_ptr<VisualFeatures> open_visual_features(const TaskSpec& task) {
  if (!task.is_vl()) return nullptr;
  if (task.features.empty())
    throw UsageError("task " + task.task + " reads image features: give --features (a folder of {image_id}.h5 files "
                     "or one .safetensors file)");
  return std::make_shared<VisualFeatures>(data::open_feature_source(task.features), task.visual_tokens);
}

}  // namespace ladder::train
