#pragma once
// Precomputed image features (e.g. CLIP grid features) read by image id, torch-free: the model
// side turns a FeatureMatrix into a tensor and, for NLVR2, concatenates the two images.
//
// Sources open_feature_source accepts:
//   - a directory of {image_id}.h5 files, each holding the dataset "{image_id}/features" of
//     shape [L, D] (float32; float16 and float64 are converted to float32): the layout the
//     VL-T5 / LST authors' CLIP feature folders have (COCO/clip_features/data_clip_RN101_att/).
//   - one .safetensors file whose tensors are named by image id, each [L, D] in F32, F16 or
//     BF16 (converted to float32).
// Errors name the file and the image id: LoadError for an id with no features (missing .h5
// file, tensor or dataset), FormatError for features of the wrong shape (rank != 2, zero rows
// or columns) or type, or a file HDF5 cannot read.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ladder::data {

struct FeatureMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;  // row-major [rows, cols]
};

class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  virtual FeatureMatrix read(const std::string& image_id) const = 0;  // throws LoadError/FormatError naming file and id
  virtual bool contains(const std::string& image_id) const = 0;
  virtual std::string path() const = 0;
};

// A directory is read as .h5 files, a file ending in .safetensors as safetensors. Anything
// else (or a path that does not exist): LoadError naming the path.
std::unique_ptr<FeatureSource> open_feature_source(const std::string& path);

// torch.nn.AdaptiveMaxPool2d((side, side)) on the grid the rows form, as the authors'
// --downsample (Downsample in VL-T5's modeling code) applies it: rows must be a perfect square
// s * s (row r is grid cell (r / s, r % s)); output window (i, j), i, j < side, is the maximum
// over grid rows [floor(i*s/side), ceil((i+1)*s/side)) x the same for columns, per feature
// column; output row i * side + j. 49 rows -> side 6 gives 36 rows (windows overlap by one).
// Not square, or side < 1: FormatError. Two images (NLVR2) are pooled one by one by the caller.
FeatureMatrix pool_grid(const FeatureMatrix& grid, int64_t side);

}  // namespace ladder::data
