#pragma once
// LoRA (Hu et al. 2021) on T5's Linear modules, saved under PEFT's names so that PEFT users can
// load the adapter directly. Public because merge() is LoRA-only: callers dynamic_cast to it.
#include <memory>
#include <string>
#include <vector>

#include "ladder/methods/method.h"

namespace ladder {

// Settings (adapter_config.json "settings"):
//   r               rank, default 32 (the paper's baseline)
//   alpha           scaling numerator, default 32 (scaling = alpha / r = 1)
//   dropout         on the LoRA branch's input, default 0.1 (the authors' LoraConfig and
//                   PEFT's common choice)
//   target_modules  leaf names of the Linear modules to adapt, default ["q", "v"]; allowed:
//                   q, k, v, o (every attention, self and cross, as PEFT matches them),
//                   wi, wo (relu FF), wi_0, wi_1, wo (gated FF)
// The backbone is frozen; only lora_A / lora_B train. (The authors' LoRA runs also trained
// biases BitFit-style, which is where the paper's 1.71% comes from; that is not done here.)
class LoraMethod : public FineTuningMethod {
 public:
  LoraMethod(Backbone backbone, const MethodOptions& options);

  std::string name() const override { return "lora"; }
  nlohmann::json settings() const override;
  // base_model.model.<module path>.lora_A.weight / .lora_B.weight, in module order.
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override;
  // Training after merge() is refused: the branch no longer runs, so nothing would learn.
  void set_training(bool training) override;

  // Folds scaling * B·A into every adapted weight, so inference costs what the plain model
  // does. The LoRA weights stay and are still what save_method writes (a fresh load is
  // unmerged and gives the same outputs). In bf16 the merged weight is rounded once.
  void merge();
  bool merged() const { return merged_; }
  // Module paths that carry LoRA, e.g. "encoder.block.0.layer.0.SelfAttention.q".
  std::vector<std::string> adapted_modules() const;

 private:
  int64_t r_;
  double alpha_, dropout_;
  std::vector<std::string> target_modules_;
  std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> modules_;
  bool merged_ = false;
};

}  // namespace ladder
