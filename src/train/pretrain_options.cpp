// Pretraining settings, schedule, initialisation and the Hugging Face export.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/io/json_file.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/pretrain/pretrain.h"
#include "ladder/train/checkpoint.h"

namespace ladder::pretrain {
namespace fs = std::filesystem;
namespace {

std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path + ": cannot open the tokenizer model");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int64_t padded_vocab_size(int64_t tokenizer_vocab_size) { return (tokenizer_vocab_size + 127) / 128 * 128; }

T5Config default_model_config(int64_t vocab_size) {
  T5Config c;
  c.vocab_size = vocab_size;
  c.d_model = 256;
  c.d_kv = 32;
  c.num_heads = 8;
  c.d_ff = 1024;
  c.num_layers = 4;
  c.num_decoder_layers = 4;
  c.feed_forward_proj = "gated-gelu";
  c.dropout_rate = 0.0;
  c.tie_word_embeddings = false;
  c.scale_decoder_outputs = false;
  c.has_lm_head = true;
  return c;
}

int64_t PretrainOptions::resolved_warmup_steps() const {
  return warmup_steps >= 0 ? warmup_steps : std::min<int64_t>(1000, max_steps / 10);
}

nlohmann::json PretrainOptions::to_json() const {
  return {{"model", model.to_json()},
          {"tokenizer", tokenizer},
          {"corpus", corpus.to_json()},
          {"noise_density", corruption.noise_density},
          {"mean_noise_span_length", corruption.mean_noise_span_length},
          {"input_length", input_length},
          {"batch_size", batch_size},
          {"max_steps", max_steps},
          {"learning_rate", learning_rate},
          {"schedule", schedule},
          {"warmup_steps", warmup_steps},
          {"adam", {{"beta1", adam.beta1}, {"beta2", adam.beta2}, {"eps", adam.eps}, {"weight_decay", adam.weight_decay}}},
          {"max_grad_norm", max_grad_norm},
          {"log_every", log_every},
          {"save_every", save_every},
          {"baseline_examples", baseline_examples},
          {"seed", seed},
          {"precision", precision},
          {"save_dtype", save_dtype},
          {"init_from", init_from}};
}

PretrainOptions PretrainOptions::from_json(const nlohmann::json& json, const std::string& source) {
  PretrainOptions o;
  o.model = T5Config::from_json(json_field<nlohmann::json>(json, "model", source), source + " (model)");
  o.tokenizer = json_field<std::string>(json, "tokenizer", source);
  o.corpus = CorpusOptions::from_json(json_field<nlohmann::json>(json, "corpus", source), source + " (corpus)");
  o.corruption.noise_density = json_field<double>(json, "noise_density", source);
  o.corruption.mean_noise_span_length = json_field<double>(json, "mean_noise_span_length", source);
  o.input_length = json_field<int64_t>(json, "input_length", source);
  o.batch_size = json_field<int64_t>(json, "batch_size", source);
  o.max_steps = json_field<int64_t>(json, "max_steps", source);
  o.learning_rate = json_field<double>(json, "learning_rate", source);
  o.schedule = json_field<std::string>(json, "schedule", source);
  o.warmup_steps = json_field<int64_t>(json, "warmup_steps", source);
  const nlohmann::json adam = json_field<nlohmann::json>(json, "adam", source);
  o.adam.beta1 = json_field<double>(adam, "beta1", source);
  o.adam.beta2 = json_field<double>(adam, "beta2", source);
  o.adam.eps = json_field<double>(adam, "eps", source);
  o.adam.weight_decay = json_field<double>(adam, "weight_decay", source);
  o.max_grad_norm = json_field<double>(json, "max_grad_norm", source);
  o.log_every = json_field<int64_t>(json, "log_every", source);
  o.save_every = json_field<int64_t>(json, "save_every", source);
  o.baseline_examples = json_field<int64_t>(json, "baseline_examples", source);
  o.seed = json_field<uint64_t>(json, "seed", source);
  o.precision = json_field<std::string>(json, "precision", source);
  o.save_dtype = json_field<std::string>(json, "save_dtype", source);
  o.init_from = json.value("init_from", std::string());  // runs from before --init lack it
  o.validate();
  return o;
}

void PretrainOptions::validate() const {
  auto positive = [](int64_t value, const char* what) {
    if (value <= 0) throw UsageError(std::string(what) + " must be positive, found " + std::to_string(value));
  };
  positive(batch_size, "--batch-size");
  positive(max_steps, "--max-steps");
  positive(log_every, "--log-every");
  positive(save_every, "--save-every");
  if (baseline_examples < 0) throw UsageError("--baseline-examples must be >= 0");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) throw UsageError("--lr must be a finite number > 0");
  if (!(max_grad_norm >= 0) || !std::isfinite(max_grad_norm))
    throw UsageError("--max-grad-norm must be a finite number >= 0 (0: off), found " + std::to_string(max_grad_norm));
  auto in_unit = [](double value, const char* flag) {
    if (!(value >= 0 && value < 1)) throw UsageError(std::string(flag) + " must be in [0, 1), found " + std::to_string(value));
  };
  in_unit(adam.beta1, "--adam-beta1");
  in_unit(adam.beta2, "--adam-beta2");
  if (!(adam.eps > 0) || !std::isfinite(adam.eps)) throw UsageError("AdamW epsilon must be a finite number > 0");
  if (!(adam.weight_decay >= 0) || !std::isfinite(adam.weight_decay))
    throw UsageError("--weight-decay must be a finite number >= 0, found " + std::to_string(adam.weight_decay));
  if (schedule != "linear" && schedule != "inverse-sqrt" && schedule != "constant")
    throw UsageError("unknown --schedule \"" + schedule + "\" (expected linear, inverse-sqrt or constant)");
  if (precision != "fp32" && precision != "bf16")
    throw UsageError("unknown --precision \"" + precision + "\" (fp32 or bf16; fp16 overflows in T5)");
  if (save_dtype != "fp32" && save_dtype != "bf16")
    throw UsageError("unknown --save-dtype \"" + save_dtype + "\" (fp32 or bf16)");
  if (tokenizer.empty()) throw UsageError("--tokenizer is required (a sentencepiece spiece.model)");
  model.validate("model config");
  corpus.validate();
  compute_input_and_target_lengths(input_length, corruption);  // throws UsageError when impossible
}

double learning_rate_at(const PretrainOptions& o, int64_t step) {
  const int64_t warmup = o.resolved_warmup_steps();
  const double base = o.learning_rate;
  if (step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (o.schedule == "constant") return base;
  if (o.schedule == "inverse-sqrt")
    return base * std::sqrt(static_cast<double>(std::max<int64_t>(warmup, 1)) / static_cast<double>(step + 1));
  // linear: from base at the end of warmup to 0 at max_steps.
  const double span = static_cast<double>(std::max<int64_t>(o.max_steps - warmup, 1));
  return base * std::max(0.0, static_cast<double>(o.max_steps - step) / span);
}

void init_pretrain_weights(T5ForConditionalGenerationImpl& model, uint64_t seed) {
  init_t5_weights(model, seed);
  if (!model.lm_head) return;
  torch::NoGradGuard no_grad;
  // Its own generator (seed + 1) so the rest of the weights equal init_t5_weights(seed)'s.
  torch::Generator generator = at::detail::createCPUGenerator(seed + 1);
  const double std = 1.0 / std::sqrt(static_cast<double>(model.config.d_model));
  torch::Tensor values = torch::empty(model.lm_head->weight.sizes(), torch::kFloat).normal_(0.0, std, generator);
  model.lm_head->weight.copy_(values);
}

void save_hf_model(T5ForConditionalGenerationImpl& model, const std::string& dir, const std::string& tokenizer_path,
                   torch::ScalarType dtype) {
  fs::create_directories(dir);
  std::map<std::string, torch::Tensor> tensors;
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : model.named_parameters(/*recurse=*/true))
      tensors[item.key()] = item.value().detach().to(torch::kCPU, dtype);
  }
  T5Config config = model.config;
  config.has_lm_head = static_cast<bool>(model.lm_head);
  config.dtype = dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  // The weights first: a reader that finds the new config finds weights that fit it.
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_json_atomically((fs::path(dir) / "config.json").string(), config.to_json());
  const fs::path spiece = fs::path(dir) / "spiece.model";
  if (fs::absolute(tokenizer_path).lexically_normal() != fs::absolute(spiece).lexically_normal())
    write_file_atomically(spiece.string(), read_binary(tokenizer_path));
}

PretrainOptions load_pretrain_options(const std::string& out_dir) {
  const std::string path = (fs::path(out_dir) / "pretrain_options.json").string();
  if (!fs::exists(path))
    throw UsageError(out_dir + ": no pretraining run here (expected pretrain_options.json written by ladder pretrain --out)");
  return PretrainOptions::from_json(read_json_file(path), path);
}

}  // namespace ladder::pretrain
