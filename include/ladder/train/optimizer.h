#pragma once
// AdamW over named tensors. Written here rather than taken from torch::optim because its
// state must be saved under parameter names (exp_avg.<name>, exp_avg_sq.<name>) in
// safetensors and restored exactly on resume; torch::optim keys its state by tensor address.
// The update is torch.optim.AdamW's (decoupled weight decay, bias-corrected moments,
// eps added after the square root), checked against torch::optim::AdamW in the tests.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ladder::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // decoupled, applied to every trainable tensor
};

class AdamW {
 public:
  // Only the trainable tensors: the frozen backbone never reaches the optimizer.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options = {});

  // One update with learning rate `lr`. Tensors without a gradient are skipped (their step
  // counter does not advance), as torch does. Moments are fp32 whatever the tensor's dtype.
  void step(double lr);
  void zero_grad();

  // exp_avg.<name> / exp_avg_sq.<name> for every tensor updated at least once.
  std::map<std::string, torch::Tensor> state_tensors() const;
  // Per-tensor update counts (bias correction).
  std::map<std::string, int64_t> step_counts() const;
  // Restores the state saved by the two functions above; `source` names the file in errors
  // (LoadError for unknown names, missing moments or wrong shapes).
  void load_state(const std::map<std::string, torch::Tensor>& tensors, const std::map<std::string, int64_t>& steps,
                  const std::string& source);

  const std::vector<std::pair<std::string, torch::Tensor>>& params() const { return params_; }

 private:
  struct Slot {
    torch::Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::map<std::string, Slot> state_;
  AdamWOptions options_;
};

// Clips the global L2 norm of the gradients to max_norm (<= 0: no clipping); returns the norm
// before clipping.
double clip_grad_norm(const std::vector<std::pair<std::string, torch::Tensor>>& params, double max_norm);

}  // namespace ladder::train
