#include "ladder/models/llama/load.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/models/t5/config.h"

namespace ladder {
namespace fs = std::filesystem;

namespace {

constexpr double kInitializerRange = 0.02;

LlamaConfig architecture_config(const std::string& name, std::string& tokenizer_path) {
  const fs::path path(name);
  if (fs::is_directory(path)) {
    for (const char* file : {"tokenizer.model", "tokenizer.json"})
      if (tokenizer_path.empty() && fs::exists(path / file)) tokenizer_path = (path / file).string();
    return LlamaConfig::from_file((path / "config.json").string());
  }
  if (fs::is_regular_file(path)) return LlamaConfig::from_file(name);
  return LlamaConfig::builtin(name);
}

double estimated_parameters(const LlamaConfig& c) {
  const double d = static_cast<double>(c.hidden_size);
  const double attention = d * static_cast<double>(2 * c.q_width() + 2 * c.kv_width());
  const double mlp = 3.0 * d * static_cast<double>(c.intermediate_size);
  const double layers = static_cast<double>(c.num_hidden_layers) * (attention + mlp + 2.0 * d);
  const double embeddings = static_cast<double>(c.vocab_size) * d * (c.tie_word_embeddings ? 1.0 : 2.0);
  return embeddings + layers + d;
}

bool quantizable(const LlamaForCausalLMImpl& model, const torch::nn::Module& module) {
  return dynamic_cast<const LinearImpl*>(&module) != nullptr || &module == model.model->embed_tokens.get();
}

void drop_initial_table(LlamaForCausalLMImpl& model) {
  torch::NoGradGuard no_grad;
  torch::Tensor& table = model.model->embed_tokens->weight;
  table.set_data(torch::empty(table.sizes(), table.options()));
  release_freed_memory();
}

void normal_init(torch::nn::Module& owner, torch::Tensor& t, torch::Generator& gen, const WeightReady& ready) {
  // Sampled on the CPU in fp32, so a seed gives the same weights on every device.
  torch::Tensor values = torch::empty(t.sizes(), torch::kFloat).normal_(0.0, kInitializerRange, gen);
  if (!(ready && ready(owner, values))) t.copy_(values);
}

}  // namespace

void init_llama_weights(LlamaForCausalLMImpl& model, uint64_t seed, const WeightReady& ready) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  normal_init(*model.model->embed_tokens, model.model->embed_tokens->weight, gen, ready);
  for (auto& layer : model.model->layers) {
    auto& a = layer->self_attn;
    auto& m = layer->mlp;
    for (Linear* linear : {&a->q_proj, &a->k_proj, &a->v_proj, &a->o_proj, &m->gate_proj, &m->up_proj, &m->down_proj}) {
      normal_init(**linear, (*linear)->weight, gen, ready);
      if ((*linear)->bias.defined()) (*linear)->bias.zero_();
    }
  }
  if (model.lm_head) normal_init(*model.lm_head, model.lm_head->weight, gen, ready);
}

ModelFamily model_family(const std::string& spec) {
  std::string config_path;
  if (spec.rfind("arch:", 0) == 0) {
    const std::string name = spec.substr(5);
    if (LlamaConfig::is_builtin(name)) return ModelFamily::causal_lm;
    if (fs::is_directory(name)) config_path = (fs::path(name) / "config.json").string();
    else if (fs::is_regular_file(name)) config_path = name;
    else {
      const std::vector<std::string> t5 = T5Config::builtin_names();
      if (std::find(t5.begin(), t5.end(), name) != t5.end()) return ModelFamily::t5;
      // Unknown: every family's published sizes, not only the family the name was tried on.
      auto listed = [](const std::vector<std::string>& names) {
        std::string text;
        for (const auto& n : names) text += (text.empty() ? "" : ", ") + n;
        return text;
      };
      throw UsageError("unknown architecture \"arch:" + name + "\" (T5: " + listed(t5) +
                       "; decoder-only: " + listed(LlamaConfig::builtin_names()) +
                       "; or arch:DIR / arch:CONFIG.json for the architecture of a folder)");
    }
  } else {
    if (!fs::is_directory(spec)) return ModelFamily::t5;  // the loader says what is wrong
    config_path = (fs::path(spec) / "config.json").string();
  }
  if (!fs::exists(config_path)) return ModelFamily::t5;
  nlohmann::json json = read_json_file(config_path);
  if (json.is_object() && json.contains("model_type") && json["model_type"].is_string() &&
      is_causal_lm_type(json["model_type"].get<std::string>()))
    return ModelFamily::causal_lm;
  return ModelFamily::t5;
}

LoadedCausalLM load_causal_lm(const std::string& spec, const ModelOptions& options) {
  LoadedCausalLM loaded;
  loaded.source = spec;
  const bool random = spec.rfind("arch:", 0) == 0;
  LlamaConfig config;
  if (random) {
    config = architecture_config(spec.substr(5), loaded.tokenizer_path);
  } else {
    fs::path dir(spec);
    if (!fs::is_directory(dir))
      throw LoadError(spec + ": not a model directory (expected a Hugging Face folder with config.json, or arch:NAME)");
    config = LlamaConfig::from_file((dir / "config.json").string());
    for (const char* file : {"tokenizer.model", "tokenizer.json"})
      if (loaded.tokenizer_path.empty() && fs::exists(dir / file)) loaded.tokenizer_path = (dir / file).string();
  }
  check_model_fits(estimated_parameters(config), static_cast<double>(config.vocab_size * config.hidden_size), spec,
                   options.quantization);
  loaded.model = LlamaForCausalLM(config);
  LlamaForCausalLMImpl& model = *loaded.model;
  if (options.quantization != QuantFormat::none) drop_initial_table(model);

  if (random) {
    init_llama_weights(model, options.seed,
                       quantize_when_initialised(options, [&](const torch::nn::Module& m) { return quantizable(model, m); }));
  } else {
    safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(spec);
    if (!config.tie_word_embeddings && !checkpoint.contains("lm_head.weight"))
      throw LoadError(spec + ": config.json says tie_word_embeddings=false but the checkpoint has no lm_head.weight");
    const TakeWeight quantize_loaded =
        quantize_when_read(model, options, [&](const torch::nn::Module& m) { return quantizable(model, m); });
    // Some tied checkpoints also store the head (a copy of the embedding); one that differs is
    // a trained head the tied model would silently drop. Rotary tables of old exports are not
    // weights.
    std::vector<std::string> ignorable;
    if (config.tie_word_embeddings && checkpoint.contains("lm_head.weight") && checkpoint.contains("model.embed_tokens.weight")) {
      const auto& head = checkpoint.info("lm_head.weight");
      const auto& embedding = checkpoint.info("model.embed_tokens.weight");
      const bool same = head.shape == embedding.shape && head.dtype == embedding.dtype &&
                        std::equal(checkpoint.data("lm_head.weight"), checkpoint.data("lm_head.weight") + head.nbytes(),
                                   checkpoint.data("model.embed_tokens.weight"));
      if (!same)
        throw LoadError(checkpoint.file_of("lm_head.weight") +
                        ": holds an lm_head.weight that differs from model.embed_tokens.weight, but config.json says "
                        "tie_word_embeddings=true (the head would be dropped; set it to false?)");
      ignorable.push_back("lm_head.weight");
    }
    for (int64_t i = 0; i < config.num_hidden_layers; ++i)
      ignorable.push_back("model.layers." + std::to_string(i) + ".self_attn.rotary_emb.inv_freq");
    load_weights(model, checkpoint, ignorable, quantize_loaded);
  }
  model.to(options.device, options.dtype);
  if (options.quantization != QuantFormat::none) release_freed_memory();
  return loaded;
}

}  // namespace ladder
