#include "ladder/runtime/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>

#include <torch/version.h>

#include "ladder/error.h"
#include "ladder/methods/method.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/t5/attention_core.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/load.h"
#include "ladder/runtime/blas_kernels.h"
#include "ladder/runtime/memory.h"
#include "ladder/train/state_cache.h"

namespace ladder::runtime {
namespace {

int64_t tensor_bytes(const torch::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

nlohmann::json BenchRecord::to_json() const {
  return {{"method", method},
          {"trainable_parameters", trainable_parameters},
          {"backbone_parameters", backbone_parameters},
          {"trainable_percent", backbone_parameters ? 100.0 * trainable_parameters / backbone_parameters : 0.0},
          {"peak_bytes", peak_bytes},
          {"reserved_bytes", reserved_bytes},
          {"categories",
           {{"frozen_weights", frozen_weight_bytes},
            {"trainable_weights", trainable_weight_bytes},
            {"gradients", gradient_bytes},
            {"optimizer_state", optimizer_bytes},
            {"activations_and_temporaries", activation_bytes},
            {"cached_states", cache_bytes}}},
          {"median_step_seconds", median_step_seconds},
          {"final_loss", final_loss},
          {"device", device},
          {"precision", precision},
          {"backbone_dtype", backbone_dtype},
          {"attention", attention},
          {"libtorch", libtorch},
          {"blas", blas},
          {"variant", variant},
          {"visual_tokens", visual_tokens},
          {"feature_dim", feature_dim}};
}

BenchRecord BenchRecord::from_json(const nlohmann::json& j) {
  BenchRecord r;
  r.method = j.at("method").get<std::string>();
  r.trainable_parameters = j.at("trainable_parameters").get<int64_t>();
  r.backbone_parameters = j.at("backbone_parameters").get<int64_t>();
  r.peak_bytes = j.at("peak_bytes").get<int64_t>();
  r.reserved_bytes = j.value("reserved_bytes", int64_t{0});
  const auto& c = j.at("categories");
  r.frozen_weight_bytes = c.at("frozen_weights").get<int64_t>();
  r.trainable_weight_bytes = c.at("trainable_weights").get<int64_t>();
  r.gradient_bytes = c.at("gradients").get<int64_t>();
  r.optimizer_bytes = c.at("optimizer_state").get<int64_t>();
  r.activation_bytes = c.at("activations_and_temporaries").get<int64_t>();
  r.cache_bytes = c.value("cached_states", int64_t{0});
  r.median_step_seconds = j.at("median_step_seconds").get<double>();
  r.final_loss = j.value("final_loss", 0.0);
  r.device = j.value("device", "");
  r.precision = j.value("precision", "");
  r.backbone_dtype = j.value("backbone_dtype", r.precision);
  r.attention = j.value("attention", "");
  r.libtorch = j.value("libtorch", "");
  r.blas = j.value("blas", "");
  r.variant = j.value("variant", "");
  r.visual_tokens = j.value("visual_tokens", int64_t{0});
  r.feature_dim = j.value("feature_dim", int64_t{0});
  return r;
}

BenchRecord run_training_benchmark(const BenchConfig& config, int64_t baseline_rss_bytes) {
  const bool cuda = config.device == "cuda";
  if (cuda && !cuda_available()) throw UsageError("bench: --device cuda but CUDA is not available in this build");
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const BackboneStorage storage = backbone_storage(config.backbone_dtype, config.precision);
  const torch::ScalarType dtype = storage.dtype;

  ModelOptions model_options;
  model_options.device = device;
  model_options.dtype = dtype;
  model_options.quantization = storage.quantization;
  model_options.seed = config.seed;
  // A decoder-only model trains on whole sequences of source_length tokens (--seq-len).
  const bool causal = model_family(config.model) == ModelFamily::causal_lm;
  std::optional<Backbone> backbone;
  int64_t vocab_size = 0, d_model = 0;
  if (causal) {
    LoadedCausalLM loaded = load_causal_lm(config.model, model_options);
    vocab_size = loaded.model->config.vocab_size;
    d_model = loaded.model->config.hidden_size;
    backbone.emplace(loaded.model);
  } else {
    LoadedModel loaded = load_model(config.model, model_options);
    vocab_size = loaded.model->config.vocab_size;
    d_model = loaded.model->config.d_model;
    backbone.emplace(loaded.model);
  }
  MethodOptions method_options;
  method_options.name = config.method;
  method_options.seed = config.seed;
  method_options.backbone_dtype = dtype;
  try {
    method_options.settings = nlohmann::json::parse(config.settings);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("bench: --settings is not valid JSON (" + std::string(e.what()) + ")");
  }
  if (config.visual_tokens < 0) throw UsageError("bench: --visual-tokens must be 0 or more");
  if (causal && (config.visual_tokens > 0 || config.cached_states))
    throw UsageError("bench: --visual-tokens and --cached-states need a T5, not a decoder-only model");
  if (config.visual_tokens > 0) {
    if (config.feature_dim < 1) throw UsageError("bench: --feature-dim must be positive");
    method_options.visual.feature_dim = config.feature_dim;
  }
  if (config.release_blocks && !config.cached_states) throw UsageError("bench: --release-blocks needs --cached-states");
  if (config.cached_states) {
    if (config.warmup_steps < 1) throw UsageError("bench: --cached-states needs a warm-up step (it fills the cache)");
    // Caching needs a deterministic backbone; the bench turns its dropout off unless told otherwise.
    if (method_options.settings.is_object() && !method_options.settings.contains("backbone_dropout"))
      method_options.settings["backbone_dropout"] = false;
  }
  auto method = make_method(std::move(*backbone), method_options);
  backbone.reset();
  method->to(device);
  method->set_training(true);

  BenchRecord record;
  record.method = config.method;
  record.device = config.device;
  record.attention = attention_kernels_in_use(device);
  record.libtorch = TORCH_VERSION;
  record.blas = blas_description();
  record.precision = config.precision;
  if (config.cached_states) record.variant = config.release_blocks ? "cached, blocks released" : "cached";
  if (config.return_freed_memory) record.variant += std::string(record.variant.empty() ? "" : ", ") + "freed memory returned";
  if (config.visual_tokens > 0) {
    record.visual_tokens = config.visual_tokens;
    record.feature_dim = config.feature_dim;
  }
  record.backbone_dtype = config.backbone_dtype.empty() ? config.precision : config.backbone_dtype;
  record.trainable_parameters = method->trainable_count();
  record.backbone_parameters = method->backbone_count();
  std::vector<torch::Tensor> trainable = method->trainable_parameters();
  for (const auto& t : trainable) record.trainable_weight_bytes += tensor_bytes(t);
  record.frozen_weight_bytes = held_bytes(method->backbone_handle().module(), /*frozen_only=*/true);
  record.gradient_bytes = record.trainable_weight_bytes;
  // AdamW keeps two moments per trainable element, in the parameter's dtype.
  record.optimizer_bytes = 2 * record.trainable_weight_bytes;

  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(1e-4).weight_decay(0));
  torch::Generator gen = at::detail::createCPUGenerator(config.seed + 1);
  const int64_t vocab = std::min<int64_t>(vocab_size, 32000);
  Seq2SeqBatch batch;
  batch.input_ids = torch::randint(3, vocab, {config.batch, config.source_length}, gen, torch::kLong).to(device);
  batch.attention_mask = torch::ones_like(batch.input_ids);
  batch.labels = causal ? batch.input_ids.clone()
                        : torch::randint(3, vocab, {config.batch, config.target_length}, gen, torch::kLong).to(device);
  if (config.visual_tokens > 0) {
    // One image per example: features ~ N(0, 1), boxes with x1 < x2 and y1 < y2 in [0, 1].
    const int64_t V = config.visual_tokens;
    batch.visual.features = torch::randn({config.batch, V, config.feature_dim}, gen).to(device);
    torch::Tensor corners = std::get<0>(torch::rand({config.batch, V, 2, 2}, gen).sort(-1));  // (x1, x2), (y1, y2)
    batch.visual.boxes = corners.reshape({config.batch, V, 4}).to(device);
  }

  // The cache of the benchmark's one batch: every row is an example of its own.
  std::unique_ptr<train::BackboneStateCache> cache;
  std::vector<train::TokenizedExample> examples;
  std::vector<std::size_t> rows;
  std::string cache_dir;
  if (config.cached_states) {
    if (const std::string why = method->why_backbone_not_cacheable(); !why.empty()) throw UsageError("bench: " + why);
    const torch::Tensor ids = batch.input_ids.cpu(), labels = batch.labels.cpu();
    for (int64_t b = 0; b < config.batch; ++b) {
      train::TokenizedExample e;
      e.source.assign(ids[b].data_ptr<int64_t>(), ids[b].data_ptr<int64_t>() + config.source_length);
      e.target.assign(labels[b].data_ptr<int64_t>(), labels[b].data_ptr<int64_t>() + config.target_length);
      examples.push_back(std::move(e));
      rows.push_back(static_cast<std::size_t>(b));
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "ladder-bench-cache-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw Error("bench: cannot make a temporary folder for the cache");
    cache_dir = pattern;
    const nlohmann::json id = method->backbone_states_identity();
    cache = std::make_unique<train::BackboneStateCache>(
        train::StateCacheOptions{cache_dir, "bf16", int64_t{1} << 40}, nlohmann::json{{"bench", config.model}},
        train::StateLayout{static_cast<int64_t>(id.at("encoder_layers").size()),
                           static_cast<int64_t>(id.at("decoder_layers").size()), d_model},
        examples);
  }
  auto forward = [&]() -> Seq2SeqOutput {
    if (!cache) return method->forward(batch);
    std::optional<LadderStates> states = cache->lookup(rows, device);
    if (!states) {
      cache->store(rows, method->backbone_states(batch));
      states = cache->lookup(rows, device);
    }
    return method->forward_from_states(batch, *states);
  };

  std::vector<double> step_seconds;
  const int total = config.warmup_steps + config.timed_steps;
  for (int step = 0; step < total; ++step) {
    if (step == config.warmup_steps && config.release_blocks) {
      record.frozen_weight_bytes -= method->release_backbone_blocks("");
    }
    if (step == config.warmup_steps) {
      // Peaks count from here: steady-state steps with optimizer state allocated.
      if (cuda) cuda_reset_peak();
      else reset_peak_rss();  // where the kernel refuses, the peak counts from start-up
    }
    auto start = std::chrono::steady_clock::now();
    // Gradients set to none (not zeroed) so they are not resident between steps.
    for (auto& t : trainable) t.mutable_grad() = torch::Tensor();
    Seq2SeqOutput out = forward();
    out.loss.backward();
    torch::nn::utils::clip_grad_norm_(trainable, 1.0);
    optimizer.step();
    record.final_loss = out.loss.item<double>();  // also synchronises CUDA
    if (cuda) cuda_synchronize();
    if (step >= config.warmup_steps) step_seconds.push_back(seconds_since(start));
    std::fprintf(stderr, "  %s: step %d/%d %.3f s\n", config.method.c_str(), step + 1, total, seconds_since(start));
  }
  std::sort(step_seconds.begin(), step_seconds.end());
  record.median_step_seconds = step_seconds.empty() ? 0.0 : step_seconds[step_seconds.size() / 2];
  if (cache) {
    record.cache_bytes = cache->memory_bytes();
    cache.reset();
    std::filesystem::remove_all(cache_dir);
  }
  if (cuda) {
    CudaMemoryStats stats = cuda_memory_stats();
    record.peak_bytes = stats.peak_allocated;
    record.reserved_bytes = stats.peak_reserved;
  } else {
    record.peak_bytes = peak_rss_bytes() - baseline_rss_bytes;
  }
  const int64_t accounted = record.frozen_weight_bytes + record.trainable_weight_bytes + record.gradient_bytes +
                            record.optimizer_bytes + record.cache_bytes;
  record.activation_bytes = std::max<int64_t>(0, record.peak_bytes - accounted);
  return record;
}

double time_forward(const BenchConfig& config) {
  const bool cuda = config.device == "cuda";
  ModelOptions model_options;
  model_options.device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const BackboneStorage storage = backbone_storage(config.backbone_dtype, config.precision);
  model_options.dtype = storage.dtype;
  model_options.quantization = storage.quantization;
  model_options.seed = config.seed;
  LoadedModel loaded = load_model(config.model, model_options);
  loaded.model->eval();
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(config.seed + 1);
  const int64_t vocab = std::min<int64_t>(loaded.model->config.vocab_size, 32000);
  Seq2SeqBatch batch;
  batch.input_ids = torch::randint(3, vocab, {config.batch, config.source_length}, gen, torch::kLong).to(model_options.device);
  batch.attention_mask = torch::ones_like(batch.input_ids);
  batch.labels = torch::randint(3, vocab, {config.batch, config.target_length}, gen, torch::kLong).to(model_options.device);
  std::vector<double> seconds;
  for (int i = 0; i < config.warmup_steps + config.timed_steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    Seq2SeqOutput out = loaded.model->forward(batch);
    out.loss.item<double>();
    if (cuda) cuda_synchronize();
    if (i >= config.warmup_steps) seconds.push_back(seconds_since(start));
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds.empty() ? 0.0 : seconds[seconds.size() / 2];
}

std::string format_bench_table(const std::vector<BenchRecord>& records, const BenchConfig& shape) {
  std::ostringstream out;
  char line[512];
  out << "model " << shape.model << ", batch " << shape.batch;
  if (model_family(shape.model) == ModelFamily::causal_lm) out << ", sequence " << shape.source_length;
  else out << ", source " << shape.source_length << ", target " << shape.target_length;
  out << ", " << shape.device << ", " << shape.precision << ", backbone "
      << (shape.backbone_dtype.empty() ? shape.precision : shape.backbone_dtype);
  if (shape.visual_tokens > 0) out << ", " << shape.visual_tokens << " visual tokens x " << shape.feature_dim;
  out << ", AdamW\n";
  std::snprintf(line, sizeof line, "%-20s %-8s %10s %11s %11s %11s %11s %11s %11s %9s\n", "method", "backbone", "trainable%", "peak",
                "frozen_w", "train_w", "grads", "optimizer", "activ+tmp", "step_s");
  out << line;
  const BenchRecord* full = nullptr;
  for (const auto& r : records)
    if (r.method == "full") full = &r;
  for (const auto& r : records) {
    const std::string label = r.variant.empty() ? r.method : r.method + " (" + r.variant + ")";
    std::snprintf(line, sizeof line, "%-20s %-8s %10.3f %11s %11s %11s %11s %11s %11s %9.3f\n", label.c_str(),
                  r.backbone_dtype.c_str(),
                  r.backbone_parameters ? 100.0 * r.trainable_parameters / r.backbone_parameters : 0.0,
                  format_bytes(r.peak_bytes).c_str(), format_bytes(r.frozen_weight_bytes).c_str(),
                  format_bytes(r.trainable_weight_bytes).c_str(), format_bytes(r.gradient_bytes).c_str(),
                  format_bytes(r.optimizer_bytes).c_str(), format_bytes(r.activation_bytes).c_str(),
                  r.median_step_seconds);
    out << line;
  }
  if (full && full->peak_bytes > 0) {
    out << "peak relative to full fine-tuning:";
    for (const auto& r : records)
      if (&r != full) {
        std::snprintf(line, sizeof line, " %s %.2f", r.method.c_str(), static_cast<double>(r.peak_bytes) / full->peak_bytes);
        out << line;
      }
    out << "\n";
  }
  if (!records.empty() && records.front().device == "cuda")
    out << "(CUDA: peak = caching allocator's peak allocated; reserved peaks in the JSON)\n";
  else
    out << "(CPU: peak = peak RSS above the process's baseline, each method in a fresh process)\n";
  return out.str();
}

}  // namespace ladder::runtime
