#pragma once
// Decoder-only (Llama family) configuration as Hugging Face's config.json spells it:
// LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM share one definition; they differ
// only in settings (q/k/v biases, RoPE base and scaling, tying), which this struct carries.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ladder {

// Llama 3's frequency-dependent RoPE scaling (rope_scaling.rope_type "llama3"). factor 0 = none.
struct RopeScaling {
  double factor = 0.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  bool enabled() const { return factor > 0.0; }
};

struct LlamaConfig {
  std::string model_type = "llama";  // llama | qwen2 | mistral
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 128;  // hidden_size / num_attention_heads unless config.json says otherwise
  int64_t max_position_embeddings = 4096;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool attention_bias = false;  // q/k/v (and, for Llama's attention_bias, o) biases
  bool o_proj_bias = false;     // Llama's attention_bias also covers o_proj; Qwen2's does not
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  // Mistral v0.1 attends within a window; longer sequences than this are refused (0 = none).
  int64_t sliding_window = 0;
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};
  int64_t pad_token_id = -1;  // -1: none in config.json (padding then uses eos)
  std::string dtype = "float32";

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  int64_t q_width() const { return num_attention_heads * head_dim; }
  int64_t kv_width() const { return num_key_value_heads * head_dim; }
  bool is_eos(int64_t id) const;
  // The id that fills positions after a sequence ended: pad_token_id, else the first eos.
  int64_t fill_token_id() const;

  static LlamaConfig from_json(const nlohmann::json& json, const std::string& source);
  static LlamaConfig from_file(const std::string& path);
  // arch:NAME presets (published configs; random weights for benchmarks).
  static LlamaConfig builtin(const std::string& name);
  static bool is_builtin(const std::string& name);
  static std::vector<std::string> builtin_names();
  nlohmann::json to_json() const;
  void validate(const std::string& source) const;
};

// The model types this definition serves (config.json "model_type").
bool is_causal_lm_type(const std::string& model_type);

}  // namespace ladder
