#pragma once
// Options every compute command shares: threads, device, precision.
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "ladder/models/t5/load.h"

namespace ladder::cli {

struct RuntimeOptions {
  int threads = 0;  // 0 = one per core
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string backbone_dtype;  // "" = as precision; set by commands with --backbone-dtype
  uint64_t seed = 0;
  bool return_freed_memory = false;  // runtime::return_freed_memory_to_the_system()
};

void add_runtime_options(CLI::App* app, RuntimeOptions& options);
// --backbone-dtype fp32|bf16|int8|nf4, for the commands that run a frozen backbone.
void add_backbone_dtype_option(CLI::App* app, RuntimeOptions& options);
// The backbone dtype for a recorded run: --backbone-dtype when given; else the run's, except
// that --precision alone still sets an unquantised backbone's dtype, as before the option.
std::string run_backbone_dtype(const CLI::App& app, const RuntimeOptions& options, const std::string& recorded);
// Sets libtorch's thread count and resolves the device ("auto" = CUDA when available).
torch::Device apply_runtime(const RuntimeOptions& options);
torch::ScalarType precision_dtype(const std::string& precision);  // fp32 | bf16
// apply_runtime() plus the model options it implies (device, dtype, seed).
ModelOptions apply_runtime_for_model(const RuntimeOptions& options);

}  // namespace ladder::cli
