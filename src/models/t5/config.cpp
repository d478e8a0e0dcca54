#include "ladder/models/t5/config.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/models/llama/config.h"

namespace ladder {
namespace {

template <typename T>
void optional(const nlohmann::json& json, const char* key, const std::string& source, T& out) {
  if (json.contains(key) && !json.at(key).is_null()) out = json_field<T>(json, key, source);
}

struct Preset {
  int64_t d_model, d_kv, d_ff, num_layers, num_heads;
  bool v1_1;
};

const std::map<std::string, Preset>& presets() {
  // Published Hugging Face configs (../shared/architectures.json).
  static const std::map<std::string, Preset> table = {
      {"t5-small", {512, 64, 2048, 6, 8, false}},
      {"t5-base", {768, 64, 3072, 12, 12, false}},
      {"t5-large", {1024, 64, 4096, 24, 16, false}},
      {"t5-3b", {1024, 128, 16384, 24, 32, false}},
      {"flan-t5-small", {512, 64, 1024, 8, 6, true}},
      {"flan-t5-base", {768, 64, 2048, 12, 12, true}},
      {"flan-t5-large", {1024, 64, 2816, 24, 16, true}},
  };
  return table;
}

}  // namespace

bool T5Config::is_gated() const { return feed_forward_proj.rfind("gated-", 0) == 0; }

std::string T5Config::activation() const {
  // As transformers: "gated-gelu" means the tanh GELU (gelu_new); a plain "gelu" is exact.
  if (feed_forward_proj == "gated-gelu") return "gelu_new";
  return is_gated() ? feed_forward_proj.substr(6) : feed_forward_proj;
}

void T5Config::validate(const std::string& source) const {
  auto positive = [&](int64_t value, const char* key) {
    if (value <= 0)
      throw FormatError(source + ": \"" + key + "\" must be positive, found " +
                        std::to_string(value));
  };
  positive(vocab_size, "vocab_size");
  positive(d_model, "d_model");
  positive(d_kv, "d_kv");
  positive(d_ff, "d_ff");
  positive(num_layers, "num_layers");
  positive(num_decoder_layers, "num_decoder_layers");
  positive(num_heads, "num_heads");
  positive(relative_attention_num_buckets, "relative_attention_num_buckets");
  positive(relative_attention_max_distance, "relative_attention_max_distance");
  // Beyond any published T5 by orders of magnitude, and far below sizes whose products overflow.
  auto at_most = [&](int64_t value, int64_t limit, const char* key) {
    if (value > limit)
      throw FormatError(source + ": \"" + key + "\" is " + std::to_string(value) + ", more than any T5 (at most " +
                        std::to_string(limit) + " accepted)");
  };
  at_most(vocab_size, int64_t{1} << 24, "vocab_size");
  for (const auto& [value, key] : {std::pair{d_model, "d_model"}, {d_kv, "d_kv"}, {d_ff, "d_ff"}})
    at_most(value, int64_t{1} << 20, key);
  at_most(num_heads, 4096, "num_heads");
  at_most(num_layers, 1024, "num_layers");
  at_most(num_decoder_layers, 1024, "num_decoder_layers");
  at_most(relative_attention_num_buckets, 1 << 16, "relative_attention_num_buckets");
  if (!(layer_norm_epsilon > 0) || !std::isfinite(layer_norm_epsilon))
    throw FormatError(source + ": \"layer_norm_epsilon\" must be a positive number (T5: 1e-6), found " +
                      std::to_string(layer_norm_epsilon));
  for (const auto& [value, key] : {std::pair{pad_token_id, "pad_token_id"}, {eos_token_id, "eos_token_id"},
                                   {decoder_start_token_id, "decoder_start_token_id"}})
    if (value < 0 || value >= vocab_size)
      throw FormatError(source + ": \"" + key + "\" is " + std::to_string(value) + ", outside the vocabulary [0, " +
                        std::to_string(vocab_size) + ")");
  const std::string act = activation();
  if (act != "relu" && act != "gelu" && act != "gelu_new" && act != "silu")
    throw FormatError(source + ": unsupported feed_forward_proj \"" + feed_forward_proj +
                      "\" (expected relu, gelu, gated-gelu, gated-silu or gated-relu)");
  if (!(dropout_rate >= 0) || dropout_rate >= 1)
    throw FormatError(source + ": dropout_rate must be in [0, 1), found " +
                      std::to_string(dropout_rate));
}

T5Config T5Config::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(source + ": config is not a JSON object");
  if (json.contains("model_type") && json["model_type"].is_string() &&
      json["model_type"] != "t5")
    throw FormatError(source + ": model_type is \"" + json["model_type"].get<std::string>() + "\", ladder supports \"t5\"" +
                      (is_causal_lm_type(json["model_type"].get<std::string>())
                           ? " here: this command takes T5 models (a decoder-only model works with train, eval, predict, "
                             "init, inspect, forward, generate and bench memory)"
                           : ""));
  T5Config c;
  c.vocab_size = json_field<int64_t>(json, "vocab_size", source);
  c.d_model = json_field<int64_t>(json, "d_model", source);
  c.d_kv = json_field<int64_t>(json, "d_kv", source);
  c.d_ff = json_field<int64_t>(json, "d_ff", source);
  c.num_layers = json_field<int64_t>(json, "num_layers", source);
  c.num_heads = json_field<int64_t>(json, "num_heads", source);
  c.num_decoder_layers = c.num_layers;
  optional(json, "num_decoder_layers", source, c.num_decoder_layers);
  optional(json, "relative_attention_num_buckets", source, c.relative_attention_num_buckets);
  optional(json, "relative_attention_max_distance", source, c.relative_attention_max_distance);
  optional(json, "dropout_rate", source, c.dropout_rate);
  optional(json, "layer_norm_epsilon", source, c.layer_norm_epsilon);
  optional(json, "feed_forward_proj", source, c.feed_forward_proj);
  optional(json, "tie_word_embeddings", source, c.tie_word_embeddings);
  // Older configs: tied means tied and scaled. transformers 5 writes tie_word_embeddings
  // for every model and states the scaling separately.
  c.scale_decoder_outputs = c.tie_word_embeddings;
  optional(json, "scale_decoder_outputs", source, c.scale_decoder_outputs);
  c.has_lm_head = !c.tie_word_embeddings;
  optional(json, "pad_token_id", source, c.pad_token_id);
  optional(json, "eos_token_id", source, c.eos_token_id);
  optional(json, "decoder_start_token_id", source, c.decoder_start_token_id);
  optional(json, "torch_dtype", source, c.dtype);
  optional(json, "dtype", source, c.dtype);
  c.validate(source);
  return c;
}

T5Config T5Config::from_file(const std::string& path) { return from_json(read_json_file(path), path); }

T5Config T5Config::builtin(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string known;
    for (const auto& n : builtin_names()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("unknown architecture \"arch:" + name + "\" (known: " + known + "; or arch:DIR / arch:CONFIG.json for the architecture of a folder)");
  }
  const Preset& p = it->second;
  T5Config c;
  c.d_model = p.d_model;
  c.d_kv = p.d_kv;
  c.d_ff = p.d_ff;
  c.num_layers = p.num_layers;
  c.num_decoder_layers = p.num_layers;
  c.num_heads = p.num_heads;
  c.feed_forward_proj = p.v1_1 ? "gated-gelu" : "relu";
  c.tie_word_embeddings = !p.v1_1;
  c.scale_decoder_outputs = !p.v1_1;
  c.has_lm_head = p.v1_1;
  return c;
}

std::vector<std::string> T5Config::builtin_names() {
  std::vector<std::string> names;
  for (const auto& [name, preset] : presets()) names.push_back(name);
  return names;
}

nlohmann::json T5Config::to_json() const {
  return {
      {"architectures", {"T5ForConditionalGeneration"}},
      {"model_type", "t5"},
      {"vocab_size", vocab_size},
      {"d_model", d_model},
      {"d_kv", d_kv},
      {"d_ff", d_ff},
      {"num_layers", num_layers},
      {"num_decoder_layers", num_decoder_layers},
      {"num_heads", num_heads},
      {"relative_attention_num_buckets", relative_attention_num_buckets},
      {"relative_attention_max_distance", relative_attention_max_distance},
      {"dropout_rate", dropout_rate},
      {"layer_norm_epsilon", layer_norm_epsilon},
      {"feed_forward_proj", feed_forward_proj},
      {"dense_act_fn", activation()},
      {"is_gated_act", is_gated()},
      {"tie_word_embeddings", tie_word_embeddings && !has_lm_head},
      {"scale_decoder_outputs", scale_decoder_outputs},
      {"pad_token_id", pad_token_id},
      {"eos_token_id", eos_token_id},
      {"decoder_start_token_id", decoder_start_token_id},
      {"is_encoder_decoder", true},
      {"torch_dtype", dtype},
  };
}

}  // namespace ladder
