#include "runtime_options.h"

#include <limits>
#include <thread>

#include "ladder/error.h"
#include "ladder/runtime/memory.h"
#include "validators.h"

namespace ladder::cli {

void add_runtime_options(CLI::App* app, RuntimeOptions& options) {
  app->add_option("--threads", options.threads, "CPU threads (default: one per core)")->check(whole_number(0, 1024));
  app->add_option("--device", options.device, "cpu, cuda or auto")->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  app->add_option("--precision", options.precision, "fp32 or bf16 (frozen weights and ladder states)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app->add_option("--seed", options.seed, "seed for initialisation and data order")
      ->check(whole_number(0, std::numeric_limits<int64_t>::max()));
  app->add_flag("--return-freed-memory", options.return_freed_memory,
                "hand freed tensors back to the system at once (glibc mmap threshold 256 KiB): lower peak memory "
                "on the CPU, slower steps");
}

void add_backbone_dtype_option(CLI::App* app, RuntimeOptions& options) {
  app->add_option("--backbone-dtype", options.backbone_dtype,
                  "storage of the frozen backbone: fp32, bf16, int8 (per-row absmax) or nf4 (QLoRA's 4-bit, blocks "
                  "of 64); int8/nf4 weights are dequantised to --precision when used (default: as --precision)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8", "nf4"}));
}

std::string run_backbone_dtype(const CLI::App& app, const RuntimeOptions& options, const std::string& recorded) {
  if (app.count("--backbone-dtype")) return options.backbone_dtype;
  if (app.count("--precision") && (recorded.empty() || recorded == "fp32" || recorded == "bf16")) return "";
  return recorded;
}

torch::Device apply_runtime(const RuntimeOptions& options) {
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  if (options.return_freed_memory) runtime::return_freed_memory_to_the_system();
  if (options.device == "cuda" && !runtime::cuda_available())
    throw UsageError("--device cuda: this build or machine has no CUDA (use --device cpu or auto)");
  if (options.device == "cuda" || (options.device == "auto" && runtime::cuda_available()))
    return torch::Device(torch::kCUDA, 0);
  return torch::kCPU;
}

torch::ScalarType precision_dtype(const std::string& precision) {
  if (precision == "fp32") return torch::kFloat;
  if (precision == "bf16") return torch::kBFloat16;
  throw UsageError("unknown precision \"" + precision + "\" (fp32 or bf16; fp16 overflows in T5)");
}

ModelOptions apply_runtime_for_model(const RuntimeOptions& options) {
  ModelOptions model_options;
  model_options.device = apply_runtime(options);
  precision_dtype(options.precision);  // its own message first
  const BackboneStorage storage = backbone_storage(options.backbone_dtype, options.precision);
  model_options.dtype = storage.dtype;
  model_options.quantization = storage.quantization;
  model_options.seed = options.seed;
  return model_options;
}

}  // namespace ladder::cli
