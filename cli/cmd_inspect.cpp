// `ladder inspect MODEL [--method M ...]`: what a model (and a method around it) consists of.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/io/safetensors.h"
#include "ladder/methods/method.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/t5/load.h"
#include "ladder/train/schedule.h"
#include "ladder/train/task_data.h"
#include "method_options.h"
#include "runtime_options.h"

namespace ladder::cli {
namespace {

struct InspectOptions {
  std::string model;
  std::string method;
  MethodFlags method_flags;
  std::string task;           // a vision-language task: the method gets a visual embedding
  int64_t feature_dim = 2048;  // its feature width (CLIP RN101's grid features)
  RuntimeOptions runtime;
};

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string head_kind(const T5Config& c) {
  if (c.has_lm_head) return c.scale_decoder_outputs ? "untied (lm_head.weight), scaled" : "untied (lm_head.weight)";
  return c.scale_decoder_outputs ? "tied+scaled (shared.weight, decoder output x d_model**-0.5)" : "tied (shared.weight)";
}

std::string ffn_kind(const T5Config& c) {
  if (!c.is_gated() && c.activation() == c.feed_forward_proj) return c.feed_forward_proj;
  return c.feed_forward_proj + " (" + (c.is_gated() ? "gated, " : "") + c.activation() + ")";
}

std::string dtype_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    case torch::kDouble: return "float64";
    default: return c10::toString(type);
  }
}


// Grouped by the first component of the parameter name (T5: shared, encoder, decoder, lm_head)
// or, under a "model." prefix, by the first two (Llama: model.embed_tokens, model.layers, ...).
void print_parameters(const torch::nn::Module& model, const std::vector<std::string>& order,
                      const std::string& tied_to) {
  std::map<std::string, int64_t> groups;
  std::map<std::string, std::pair<int64_t, int64_t>> dtypes;  // name -> tensors, elements
  int64_t total = 0;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const int64_t n = item.value().numel();
    const size_t first = name.find('.');
    const bool nested = name.rfind("model.", 0) == 0;
    groups[name.substr(0, nested ? name.find('.', first + 1) : first)] += n;
    auto& d = dtypes[dtype_name(item.value().scalar_type())];
    d.first += 1;
    d.second += n;
    total += n;
  }
  std::cout << "parameters: " << with_commas(total) << "\n";
  for (const std::string& group : order) {
    auto it = groups.find(group);
    std::cout << "  " << group << ": " << with_commas(it == groups.end() ? 0 : it->second);
    if (it == groups.end() && group == "lm_head") std::cout << " (tied to " << tied_to << ")";
    std::cout << "\n";
    if (it != groups.end()) groups.erase(it);
  }
  for (const auto& [group, n] : groups) std::cout << "  " << group << ": " << with_commas(n) << "\n";
  std::cout << "parameter dtypes:";
  for (const auto& [dtype, counts] : dtypes)
    std::cout << " " << dtype << " (" << counts.first << " tensors, " << with_commas(counts.second) << " values)";
  std::cout << "\n";
}

// What the files on disk hold, which may differ from the in-memory dtype (bf16 checkpoints).
void print_checkpoint_dtypes(const std::string& dir, const std::string& config_dtype) {
  safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(dir);
  std::map<std::string, int> counts;
  for (const auto& name : checkpoint.names()) counts[safetensors::dtype_name(checkpoint.info(name).dtype)] += 1;
  std::cout << "checkpoint dtypes:";
  for (const auto& [dtype, n] : counts) std::cout << " " << dtype << " x " << n;
  std::cout << " (config.json: " << config_dtype << ")\n";
}

void print_method_summary(FineTuningMethod& method) {
  const int64_t trainable = method.trainable_count(), backbone = method.backbone_count();
  char percent[32];
  std::snprintf(percent, sizeof percent, "%.3f", backbone > 0 ? 100.0 * static_cast<double>(trainable) / backbone : 0.0);
  std::cout << "method: " << method.name() << " " << method.settings().dump() << "\n"
            << "trainable parameters: " << trainable << " of " << backbone << " backbone (" << percent << "%)\n";
}

void inspect_causal_lm(const InspectOptions& o, const nlohmann::json& settings) {
  if (!o.task.empty()) throw UsageError("inspect --task: vision-language tasks need a T5 (VL-T5), not a decoder-only model");
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  LoadedCausalLM loaded = load_causal_lm(o.model, model_options);
  const LlamaConfig& c = loaded.model->config;
  std::cout << "model: " << o.model << " (" << c.model_type << ", decoder-only)\n"
            << "config: hidden " << c.hidden_size << ", heads " << c.num_attention_heads << " (key/value heads "
            << c.num_key_value_heads << ") x head_dim " << c.head_dim << ", intermediate " << c.intermediate_size
            << " (SwiGLU), layers " << c.num_hidden_layers << ", vocab " << c.vocab_size << "\n"
            << "attention biases: " << (c.attention_bias ? (c.o_proj_bias ? "q, k, v, o" : "q, k, v") : "none") << "\n"
            << "RoPE: theta " << c.rope_theta;
  if (c.rope_scaling.enabled())
    std::cout << ", llama3 scaling x" << c.rope_scaling.factor << " (original context "
              << c.rope_scaling.original_max_position_embeddings << ")";
  std::cout << "; max positions " << c.max_position_embeddings << "\n"
            << "head: " << (c.tie_word_embeddings ? "tied (model.embed_tokens.weight)" : "untied (lm_head.weight)") << "\n";
  if (!loaded.tokenizer_path.empty()) std::cout << "tokenizer: " << loaded.tokenizer_path << "\n";
  print_parameters(*loaded.model, {"model.embed_tokens", "model.layers", "model.norm", "lm_head"}, "model.embed_tokens");
  if (o.model.rfind("arch:", 0) != 0) print_checkpoint_dtypes(o.model, c.dtype);
  if (o.method.empty()) return;
  MethodOptions method_options;
  method_options.name = o.method;
  method_options.settings = settings;
  method_options.seed = o.runtime.seed;
  method_options.backbone_dtype = model_options.dtype;
  print_method_summary(*make_method(loaded.model, method_options));
}

void run_inspect(const InspectOptions& o, const CLI::App& app) {
  const ModelOptions model_options = apply_runtime_for_model(o.runtime);
  const torch::Device device = model_options.device;
  // Parse the method settings before the (possibly slow) model load, so typos fail fast.
  nlohmann::json settings = o.method.empty() ? nlohmann::json::object() : method_settings(o.method_flags, o.method, app);

  if (model_family(o.model) == ModelFamily::causal_lm) return inspect_causal_lm(o, settings);
  LoadedModel loaded = load_model(o.model, model_options);
  const T5Config& c = loaded.model->config;
  std::cout << "model: " << o.model << "\n"
            << "config: d_model " << c.d_model << ", heads " << c.num_heads << " x d_kv " << c.d_kv << ", d_ff "
            << c.d_ff << ", layers " << c.num_layers << " enc / " << c.num_decoder_layers << " dec, vocab "
            << c.vocab_size << "\n"
            << "FFN: " << ffn_kind(c) << "\n"
            << "head: " << head_kind(c) << "\n"
            << "relative attention: " << c.relative_attention_num_buckets << " buckets, max distance "
            << c.relative_attention_max_distance << "\n";
  if (!loaded.tokenizer_path.empty()) std::cout << "tokenizer: " << loaded.tokenizer_path << "\n";
  print_parameters(*loaded.model, {"shared", "encoder", "decoder", "lm_head"}, "shared");
  if (o.model.rfind("arch:", 0) != 0) print_checkpoint_dtypes(o.model, c.dtype);
  if (o.method.empty()) return;

  MethodOptions method_options;
  method_options.name = o.method;
  method_options.settings = settings;
  method_options.seed = o.runtime.seed;
  method_options.backbone_dtype = model_options.dtype;
  train::TaskSpec task;
  task.task = o.task;
  if (!o.task.empty()) {
    if (!task.is_vl())
      throw UsageError("inspect --task: a vision-language task (vqa, gqa, nlvr, caption or several joined by commas); "
                       "text tasks add nothing to the method");
    task.vl_tasks();
    method_options.visual.feature_dim = o.feature_dim;
    if (o.method == "lst" && !settings.contains("reduction")) method_options.settings["reduction"] = 4;
  }
  std::unique_ptr<FineTuningMethod> method = make_method(loaded.model, method_options);
  const int64_t trainable = method->trainable_count();
  print_method_summary(*method);
  if (method_options.visual.defined()) {
    int64_t visual = 0;
    for (const auto& [name, tensor] : method->named_trainable())
      if (name.rfind("encoder.visual_embedding.", 0) == 0) visual += tensor.numel();
    std::cout << "visual input (" << o.task << "): features of width " << o.feature_dim << " -> "
              << (o.method == "lst" ? "the side encoder only (the backbone sees the text)" : "the backbone encoder")
              << "; visual embedding " << visual << " trainable parameters, the method's own " << trainable - visual
              << "\n";
  }
  std::cout
            << "training recipe (ladder train's defaults, the authors'): AdamW lr " << default_learning_rate(o.method)
            << ", warmup " << train::resolve_warmup_steps(-1, 0) << " updates then linear decay, gradient clipping 1.0, "
            << "batch " << (o.method == "prompt" ? 50 : 100) << ", epochs 20 (cola, mrpc, rte, stsb) or 10 (others)\n";
}

}  // namespace

void add_inspect_command(CLI::App& root) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* app = root.add_subcommand("inspect", "Print a model's configuration, parameter counts and dtypes");
  app->add_option("model", options->model, "Hugging Face model directory or arch:NAME (e.g. arch:t5-base)")->required();
  CLI::Option* method = app->add_option("--method", options->method, "also build this fine-tuning method and count its trainable parameters")
                            ->check(CLI::IsMember(method_names()));
  for (CLI::Option* flag : add_method_flags(app, options->method_flags)) flag->needs(method);
  app->add_option("--task", options->task, "vision-language task(s): count the method with its visual embedding "
                                           "(LST: r = 4 unless set, the authors' VL setting)")
      ->needs(method);
  app->add_option("--feature-dim", options->feature_dim, "with --task: the image features' width")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  add_runtime_options(app, options->runtime);
  app->callback([options, app] { run_inspect(*options, *app); });
}

}  // namespace ladder::cli
