#pragma once
// The progress line (one per interval on stderr, greppable) and the JSONL log with the same
// fields plus evaluation metrics.
//   step 120/1000 | epoch 2 | loss 0.4312 | lr 2.9e-03 | 1534 tok/s | eta 3m12s | peak 812.3 MiB
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace ladder::train {

struct ProgressRecord {
  int64_t step = 0, total_steps = 0;
  // Epochs done, fractional: 0.05 early in the first, 1.00 right after it (as eval records).
  double epoch = 0;
  // A stream whose length is unknown (pretraining): `epoch` is its 1-based pass, "pass N".
  bool streamed = false;
  double loss = 0;    // mean training loss over the interval
  double lr = 0;
  double grad_norm = 0;  // before clipping, last update of the interval
  double tokens_per_second = 0;
  double eta_seconds = 0;
  int64_t peak_bytes = 0;
  // Share of the interval's examples whose backbone states came from the cache; < 0: no cache.
  double cache_hit_rate = -1;
};

std::string format_progress_line(const ProgressRecord& record);
nlohmann::json progress_json(const ProgressRecord& record);

// "45s", "3m12s", "2h05m".
std::string format_duration(double seconds);

// Peak memory for the progress line: the process's peak RSS on CPU, the caching allocator's
// peak allocation on CUDA.
int64_t peak_memory_bytes(const torch::Device& device);

// Appends one JSON object per line, flushed at once so the log survives a kill.
void append_jsonl(const std::string& path, const nlohmann::json& record);
// Drops records whose "step" is past `step` (written after the checkpoint a run resumes
// from), rewriting the file atomically; a missing file is left missing.
void truncate_jsonl_after(const std::string& path, int64_t step);

}  // namespace ladder::train
