#pragma once
// `ladder merge`: a method that only changes the model's own weights (LoRA, full fine-tuning,
// BitFit) folded into them and saved as a Hugging Face folder that any loader reads without
// ladder or PEFT (PEFT's merge_and_unload, then save_pretrained).
#include <cstdint>
#include <string>
#include <vector>

#include "ladder/methods/method.h"

namespace ladder {

struct MergeReport {
  int64_t tensors_written = 0;
  int64_t tensors_changed = 0;           // whose values differ from the base checkpoint's
  std::vector<std::string> files_copied;  // config, tokenizer and other non-weight files
};

// Why a method of this name cannot be merged into a plain model ("" when it can): methods that
// add modules the architecture does not have (LST's side network, adapters, soft prompts).
// Checked on the folder's method name before any model is loaded.
std::string why_not_mergeable(const std::string& method_name);

// UsageError unless `model_dir` is a model folder (not arch:) and `out_dir` a new or empty folder
// other than it: checked before anything loads.
void check_merge_folders(const std::string& model_dir, const std::string& out_dir);

// Writes `out_dir`/model.safetensors with exactly the tensor names and dtypes of `model_dir`'s
// checkpoint (single or sharded), each holding the method's value (LoRA merged first), and
// copies the folder's other top-level files (config.json, tokenizer, generation config).
// Refuses (UsageError) an unmergeable method, an `arch:` model, a trained tensor the
// checkpoint has no place for (BitFit's biases on a model without them, a VL run's visual
// embedding), and an `out_dir` that is the model folder or not empty.
MergeReport save_merged_model(FineTuningMethod& method, const std::string& model_dir, const std::string& out_dir);

}  // namespace ladder
