#pragma once
// T5 configuration as Hugging Face's config.json spells it, plus the built-in `arch:NAME` presets.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ladder {

struct T5Config {
  int64_t vocab_size = 32128;
  int64_t d_model = 512;
  int64_t d_kv = 64;
  int64_t d_ff = 2048;
  int64_t num_layers = 6;
  int64_t num_decoder_layers = 6;
  int64_t num_heads = 8;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double dropout_rate = 0.1;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";  // relu | gelu | gated-gelu | gated-silu | gated-relu
  bool tie_word_embeddings = true;
  // Multiply the decoder output by d_model**-0.5 before the head (T5 v1.0's tied head).
  bool scale_decoder_outputs = true;
  // A separate lm_head.weight exists (untied configs, or a checkpoint that ships one).
  bool has_lm_head = false;
  int64_t pad_token_id = 0;
  int64_t eos_token_id = 1;
  int64_t decoder_start_token_id = 0;
  std::string dtype = "float32";  // the checkpoint's torch_dtype / dtype, informational

  bool is_gated() const;
  std::string activation() const;  // "relu", "gelu" (exact), "gelu_new" (tanh GELU) or "silu"
  int64_t inner_dim() const { return d_kv * num_heads; }

  // Parses a config.json object; `source` names the file in errors. A missing required key
  // (vocab_size, d_model, d_kv, d_ff, num_layers, num_heads) is a FormatError naming it.
  static T5Config from_json(const nlohmann::json& json, const std::string& source);
  static T5Config from_file(const std::string& path);
  // arch:NAME presets (t5-small|base|large|3b, flan-t5-small|base|large).
  static T5Config builtin(const std::string& name);
  static std::vector<std::string> builtin_names();
  nlohmann::json to_json() const;
  void validate(const std::string& source) const;
};

}  // namespace ladder
