#pragma once
// Helpers shared by the torch test files.
#include <string>
#include <torch/torch.h>

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

}  // namespace ladder::test
