#pragma once
// Memory/speed benchmark of one training step per method (the comparison LST is about).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ladder::runtime {

struct BenchConfig {
  std::string model = "arch:t5-small";
  std::string method = "lst";
  std::string settings = "{}";  // method settings as JSON
  int64_t batch = 8, source_length = 128, target_length = 8;
  int warmup_steps = 2, timed_steps = 3;
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string backbone_dtype;  // fp32 | bf16 | int8 | nf4; "" = as precision
  uint64_t seed = 0;
  // LST only: the warm-up steps fill a backbone-state cache, the timed steps read it (a later
  // epoch of `train --cache-backbone`); release_blocks also frees the backbone's blocks first.
  bool cached_states = false;
  bool release_blocks = false;
  bool return_freed_memory = false;  // the children run with --return-freed-memory
  // Vision-language shape: visual tokens per example (0: text only) of width feature_dim
  // (2048: CLIP RN101's grid features). The method gets VL-T5's visual embedding; LST feeds
  // the tokens to its side encoder only, the other methods to the backbone encoder.
  int64_t visual_tokens = 0, feature_dim = 2048;
};

struct BenchRecord {
  std::string method;
  int64_t trainable_parameters = 0, backbone_parameters = 0;
  // Analytic categories, in bytes; activations = peak - (weights + gradients + optimizer).
  // frozen_weight_bytes counts what is held: a quantised weight's codes and scales.
  int64_t frozen_weight_bytes = 0, trainable_weight_bytes = 0, gradient_bytes = 0, optimizer_bytes = 0;
  int64_t activation_bytes = 0;
  int64_t cache_bytes = 0;  // cached backbone states held in memory (--cached-states)
  int64_t peak_bytes = 0;      // CPU: peak RSS above the process baseline; CUDA: peak allocated
  int64_t reserved_bytes = 0;  // CUDA: peak reserved by the caching allocator
  double median_step_seconds = 0;
  double final_loss = 0;
  std::string device, precision;
  std::string backbone_dtype;  // the frozen backbone's storage (fp32 | bf16 | int8 | nf4)
  std::string attention;  // the attention kernels in use (attention_kernels_in_use)
  std::string libtorch;   // the libtorch version it ran on
  std::string blas;       // the BLAS kernels of its fp32 CPU matmuls (runtime::blas_description)
  std::string variant;    // options beyond the method ("cached states", "blocks released"), "" for none
  int64_t visual_tokens = 0, feature_dim = 0;  // per example; 0 = a text-only run

  nlohmann::json to_json() const;
  static BenchRecord from_json(const nlohmann::json& json);
};

// Runs warm-up and timed AdamW steps of one method in this process, with random token ids
// (and random visual features when config.visual_tokens > 0).
// Call it in a fresh process: the CPU peak is the process's high-water mark.
BenchRecord run_training_benchmark(const BenchConfig& config, int64_t baseline_rss_bytes);

// Median seconds of a forward pass (eval mode, no grad, teacher-forced decoder) of the plain
// model: warm-up passes first, then `timed_steps` timed ones.
double time_forward(const BenchConfig& config);

// The table printed by `ladder bench memory`.
std::string format_bench_table(const std::vector<BenchRecord>& records, const BenchConfig& shape);

}  // namespace ladder::runtime
