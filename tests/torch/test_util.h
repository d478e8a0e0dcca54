#pragma once
// Helpers shared by the torch test files.
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <torch/torch.h>

#include "ladder/models/t5/model.h"
#include "ladder/models/tensor_io.h"

namespace ladder::test {

inline std::string fixture_dir(const std::string& name) {
  return std::string(LADDER_TEST_DATA) + "/fixtures/" + name;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// max |a - b| / max(|b|), the relative error used for gradients.
inline double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  double scale = b.to(torch::kDouble).abs().max().item<double>();
  return max_abs_diff(a, b) / std::max(scale, 1e-12);
}

// The inputs and labels of a fixture's golden.safetensors.
inline Seq2SeqBatch golden_batch(const std::string& fixture) {
  auto golden = read_safetensors(fixture_dir(fixture) + "/golden.safetensors");
  Seq2SeqBatch batch;
  batch.input_ids = golden.at("input_ids");
  batch.attention_mask = golden.at("attention_mask");
  batch.labels = golden.at("labels");
  return batch;
}

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ladder-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ladder::test
