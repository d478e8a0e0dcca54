// TrainOptions as stored in run.json, and their checks.
#include <cmath>

#include "ladder/error.h"
#include "ladder/train/schedule.h"
#include "ladder/train/trainer.h"

namespace ladder::train {

nlohmann::json TrainOptions::to_json() const {
  return {{"learning_rate", learning_rate}, {"schedule", schedule},
          {"warmup_steps", warmup_steps}, {"warmup_ratio", warmup_ratio},   {"max_grad_norm", max_grad_norm},
          {"adam_beta1", adam.beta1},       {"adam_beta2", adam.beta2},
          {"adam_epsilon", adam.eps},       {"weight_decay", adam.weight_decay},
          {"batch_size", batch_size},       {"grad_accum", grad_accum},
          {"epochs", epochs},               {"max_steps", max_steps},
          {"eval_every", eval_every},       {"log_every", log_every},
          {"eval_batch_size", eval_batch_size}, {"max_new_tokens", max_new_tokens}, {"num_beams", num_beams},
          {"bucket_by_length", bucket_by_length}, {"seed", seed},
          {"data_seed", data_seed},
          {"cache_backbone", cache_backbone}, {"cache_dir", cache_dir},
          {"cache_dtype", cache_dtype}, {"cache_memory_bytes", cache_memory_bytes},
          {"cache_release_backbone", cache_release_backbone}};
}

TrainOptions TrainOptions::from_json(const nlohmann::json& json, const std::string& source) {
  TrainOptions o;
  try {
    o.learning_rate = json.at("learning_rate").get<double>();
    o.schedule = json.value("schedule", o.schedule);
    o.warmup_steps = json.value("warmup_steps", o.warmup_steps);
    o.warmup_ratio = json.value("warmup_ratio", o.warmup_ratio);
    o.max_grad_norm = json.value("max_grad_norm", o.max_grad_norm);
    o.adam.beta1 = json.value("adam_beta1", o.adam.beta1);
    o.adam.beta2 = json.value("adam_beta2", o.adam.beta2);
    o.adam.eps = json.value("adam_epsilon", o.adam.eps);
    o.adam.weight_decay = json.value("weight_decay", o.adam.weight_decay);
    o.batch_size = json.at("batch_size").get<int64_t>();
    o.grad_accum = json.value("grad_accum", o.grad_accum);
    o.epochs = json.value("epochs", o.epochs);
    o.max_steps = json.value("max_steps", o.max_steps);
    o.eval_every = json.value("eval_every", o.eval_every);
    o.log_every = json.value("log_every", o.log_every);
    o.eval_batch_size = json.value("eval_batch_size", o.eval_batch_size);
    o.max_new_tokens = json.value("max_new_tokens", o.max_new_tokens);
    o.num_beams = json.value("num_beams", o.num_beams);
    o.bucket_by_length = json.value("bucket_by_length", o.bucket_by_length);
    o.seed = json.value("seed", o.seed);
    o.data_seed = json.value("data_seed", o.data_seed);
    o.cache_backbone = json.value("cache_backbone", o.cache_backbone);
    o.cache_dir = json.value("cache_dir", o.cache_dir);
    o.cache_dtype = json.value("cache_dtype", o.cache_dtype);
    o.cache_memory_bytes = json.value("cache_memory_bytes", o.cache_memory_bytes);
    o.cache_release_backbone = json.value("cache_release_backbone", o.cache_release_backbone);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": bad training options (" + std::string(e.what()) + ")");
  }
  o.validate();
  return o;
}

void TrainOptions::validate() const {
  auto positive = [](const char* what, int64_t value) {
    if (value < 1) throw UsageError(expected_found(what, "at least 1", std::to_string(value)));
  };
  positive("batch size (batch_size)", batch_size);
  positive("gradient accumulation (grad_accum)", grad_accum);
  positive("log interval (log_every)", log_every);
  if (!(warmup_ratio >= 0 && warmup_ratio < 1)) throw UsageError("--warmup-ratio must be in [0, 1)");
  if (num_beams < 1) throw UsageError("--num-beams must be at least 1");
  if (max_steps < 0 || epochs < 0 || eval_every < 0 || eval_batch_size < 0 || max_new_tokens < 0)
    throw UsageError("training options: epochs, max steps, eval interval and sizes must not be negative");
  if (max_steps == 0 && epochs == 0) throw UsageError("nothing to train: give --epochs or --max-steps");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate))
    throw UsageError(expected_found("learning rate (learning_rate)", "a finite number > 0", std::to_string(learning_rate)));
  if (!(max_grad_norm >= 0) || !std::isfinite(max_grad_norm))
    throw UsageError(expected_found("gradient clipping norm (max_grad_norm)", "a finite number >= 0 (0: off)", std::to_string(max_grad_norm)));
  if (adam.beta1 < 0 || adam.beta1 >= 1 || adam.beta2 < 0 || adam.beta2 >= 1 || adam.eps <= 0 || adam.weight_decay < 0)
    throw UsageError("AdamW: betas must be in [0, 1), epsilon > 0 and weight decay >= 0");
  Schedule{schedule, learning_rate, 0, 1}.validate();
  if (cache_backbone) StateCacheOptions{cache_dir.empty() ? "RUN" : cache_dir, cache_dtype, cache_memory_bytes}.validate();
}

int64_t TrainOptions::warmup_for(int64_t total_steps) const {
  if (warmup_steps < 0 && warmup_ratio > 0)
    return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));  // as transformers
  return resolve_warmup_steps(warmup_steps, total_steps);
}

}  // namespace ladder::train
