#include "ladder/models/llama/config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "ladder/error.h"
#include "ladder/io/json_file.h"

namespace ladder {
namespace {

template <typename T>
void optional(const nlohmann::json& json, const char* key, const std::string& source, T& out) {
  if (json.contains(key) && !json.at(key).is_null()) out = json_field<T>(json, key, source);
}

// eos_token_id is one id or, since Llama 3, a list of them.
std::vector<int64_t> eos_ids(const nlohmann::json& json, const std::string& source) {
  if (!json.contains("eos_token_id") || json["eos_token_id"].is_null()) return {};
  const nlohmann::json& value = json["eos_token_id"];
  if (!value.is_array()) return {json_field<int64_t>(json, "eos_token_id", source)};
  std::vector<int64_t> ids;
  for (const auto& id : value) {
    nlohmann::json wrapped = {{"eos_token_id", id}};
    ids.push_back(json_field<int64_t>(wrapped, "eos_token_id", source));
  }
  return ids;
}

RopeScaling read_rope_scaling(const nlohmann::json& json, const std::string& source) {
  RopeScaling scaling;
  if (!json.contains("rope_scaling") || json["rope_scaling"].is_null()) return scaling;
  const nlohmann::json& s = json["rope_scaling"];
  if (!s.is_object()) throw FormatError(source + ": \"rope_scaling\" must be an object or null, found " + s.dump());
  std::string type;
  optional(s, "rope_type", source, type);
  if (type.empty()) optional(s, "type", source, type);
  if (type == "default") return scaling;
  if (type != "llama3")
    throw FormatError(source + ": rope_scaling type \"" + type +
                      "\" is not supported (ladder implements \"llama3\" and unscaled RoPE)");
  scaling.factor = json_field<double>(s, "factor", source);
  optional(s, "low_freq_factor", source, scaling.low_freq_factor);
  optional(s, "high_freq_factor", source, scaling.high_freq_factor);
  optional(s, "original_max_position_embeddings", source, scaling.original_max_position_embeddings);
  if (!(scaling.factor >= 1.0) || !std::isfinite(scaling.factor))
    throw FormatError(source + ": rope_scaling.factor must be a number >= 1, found " + std::to_string(scaling.factor));
  if (!(scaling.high_freq_factor > scaling.low_freq_factor) || !(scaling.low_freq_factor > 0))
    throw FormatError(source + ": rope_scaling needs 0 < low_freq_factor < high_freq_factor");
  if (scaling.original_max_position_embeddings <= 0)
    throw FormatError(source + ": rope_scaling.original_max_position_embeddings must be positive");
  return scaling;
}

struct Preset {
  const char* model_type;
  int64_t vocab, hidden, intermediate, layers, heads, kv_heads, max_positions;
  double theta;
  bool tied;
  RopeScaling scaling;
};

const std::map<std::string, Preset>& presets() {
  // Published Hugging Face configs.
  static const std::map<std::string, Preset> table = {
      {"stories260k", {"llama", 512, 64, 172, 5, 8, 4, 512, 10000.0, true, {}}},
      {"smollm-135m", {"llama", 49152, 576, 1536, 30, 9, 3, 2048, 10000.0, true, {}}},
      {"tinyllama-1.1b", {"llama", 32000, 2048, 5632, 22, 32, 4, 2048, 10000.0, false, {}}},
      {"llama-1b", {"llama", 128256, 2048, 8192, 16, 32, 8, 131072, 500000.0, true, {32.0, 1.0, 4.0, 8192}}},
      {"llama-3b", {"llama", 128256, 3072, 8192, 28, 24, 8, 131072, 500000.0, true, {32.0, 1.0, 4.0, 8192}}},
      {"llama-2-7b", {"llama", 32000, 4096, 11008, 32, 32, 32, 4096, 10000.0, false, {}}},
      {"llama-3-8b", {"llama", 128256, 4096, 14336, 32, 32, 8, 131072, 500000.0, false, {8.0, 1.0, 4.0, 8192}}},
      {"qwen2-0.5b", {"qwen2", 151936, 896, 4864, 24, 14, 2, 32768, 1000000.0, true, {}}},
      {"qwen2-1.5b", {"qwen2", 151936, 1536, 8960, 28, 12, 2, 32768, 1000000.0, true, {}}},
      {"mistral-7b", {"mistral", 32000, 4096, 14336, 32, 32, 8, 32768, 1000000.0, false, {}}},
  };
  return table;
}

}  // namespace

bool is_causal_lm_type(const std::string& model_type) {
  return model_type == "llama" || model_type == "qwen2" || model_type == "mistral";
}

bool LlamaConfig::is_eos(int64_t id) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), id) != eos_token_ids.end();
}

int64_t LlamaConfig::fill_token_id() const {
  if (pad_token_id >= 0) return pad_token_id;
  return eos_token_ids.empty() ? 0 : eos_token_ids.front();
}

void LlamaConfig::validate(const std::string& source) const {
  auto in_range = [&](int64_t value, int64_t limit, const char* key) {
    if (value <= 0 || value > limit)
      throw FormatError(source + ": \"" + key + "\" must be in [1, " + std::to_string(limit) + "], found " +
                        std::to_string(value));
  };
  in_range(vocab_size, int64_t{1} << 24, "vocab_size");
  in_range(hidden_size, int64_t{1} << 20, "hidden_size");
  in_range(intermediate_size, int64_t{1} << 22, "intermediate_size");
  in_range(num_hidden_layers, 1024, "num_hidden_layers");
  in_range(num_attention_heads, 4096, "num_attention_heads");
  in_range(num_key_value_heads, 4096, "num_key_value_heads");
  in_range(head_dim, 1 << 16, "head_dim");
  in_range(max_position_embeddings, int64_t{1} << 24, "max_position_embeddings");
  if (num_attention_heads % num_key_value_heads != 0)
    throw FormatError(source + ": num_attention_heads (" + std::to_string(num_attention_heads) +
                      ") must be a multiple of num_key_value_heads (" + std::to_string(num_key_value_heads) + ")");
  if (head_dim % 2 != 0)
    throw FormatError(source + ": the head dimension must be even for RoPE, found " + std::to_string(head_dim));
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
    throw FormatError(source + ": \"rms_norm_eps\" must be a positive number, found " + std::to_string(rms_norm_eps));
  if (!(rope_theta > 1.0) || !std::isfinite(rope_theta))
    throw FormatError(source + ": \"rope_theta\" must be a number > 1, found " + std::to_string(rope_theta));
  auto check_id = [&](int64_t id, const char* key) {
    if (id < 0 || id >= vocab_size)
      throw FormatError(source + ": \"" + key + "\" is " + std::to_string(id) + ", outside the vocabulary [0, " +
                        std::to_string(vocab_size) + ")");
  };
  check_id(bos_token_id, "bos_token_id");
  for (int64_t id : eos_token_ids) check_id(id, "eos_token_id");
  if (pad_token_id != -1) check_id(pad_token_id, "pad_token_id");
  if (sliding_window < 0) throw FormatError(source + ": \"sliding_window\" must be positive or null");
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(source + ": config is not a JSON object");
  LlamaConfig c;
  c.model_type = json_field<std::string>(json, "model_type", source);
  if (!is_causal_lm_type(c.model_type))
    throw FormatError(source + ": model_type is \"" + c.model_type +
                      "\"; ladder's decoder-only definition serves \"llama\", \"qwen2\" and \"mistral\"");
  if (json.contains("hidden_act") && json["hidden_act"] != "silu")
    throw FormatError(source + ": hidden_act " + json["hidden_act"].dump() + " is not supported (Llama-family models use \"silu\")");
  c.vocab_size = json_field<int64_t>(json, "vocab_size", source);
  c.hidden_size = json_field<int64_t>(json, "hidden_size", source);
  c.intermediate_size = json_field<int64_t>(json, "intermediate_size", source);
  c.num_hidden_layers = json_field<int64_t>(json, "num_hidden_layers", source);
  c.num_attention_heads = json_field<int64_t>(json, "num_attention_heads", source);
  if (c.num_attention_heads <= 0)
    throw FormatError(source + ": \"num_attention_heads\" must be positive, found " + std::to_string(c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  optional(json, "num_key_value_heads", source, c.num_key_value_heads);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  optional(json, "head_dim", source, c.head_dim);
  if (!json.contains("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    throw FormatError(source + ": hidden_size (" + std::to_string(c.hidden_size) +
                      ") is not a multiple of num_attention_heads and no head_dim is given");
  optional(json, "max_position_embeddings", source, c.max_position_embeddings);
  optional(json, "rms_norm_eps", source, c.rms_norm_eps);
  optional(json, "rope_theta", source, c.rope_theta);
  c.rope_scaling = read_rope_scaling(json, source);
  if (c.model_type == "qwen2") {
    c.attention_bias = true;  // Qwen2: q/k/v always carry a bias, o_proj never
  } else {
    optional(json, "attention_bias", source, c.attention_bias);
    c.o_proj_bias = c.attention_bias;
  }
  optional(json, "mlp_bias", source, c.mlp_bias);
  optional(json, "tie_word_embeddings", source, c.tie_word_embeddings);
  // Qwen2 names a window but uses it only with use_sliding_window; Mistral uses it when set.
  bool windowed = c.model_type == "mistral";
  optional(json, "use_sliding_window", source, windowed);
  if (windowed) optional(json, "sliding_window", source, c.sliding_window);
  optional(json, "bos_token_id", source, c.bos_token_id);
  std::vector<int64_t> eos = eos_ids(json, source);
  if (!eos.empty() || json.contains("eos_token_id")) c.eos_token_ids = eos;
  optional(json, "pad_token_id", source, c.pad_token_id);
  optional(json, "torch_dtype", source, c.dtype);
  optional(json, "dtype", source, c.dtype);
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::from_file(const std::string& path) { return from_json(read_json_file(path), path); }

bool LlamaConfig::is_builtin(const std::string& name) { return presets().count(name) > 0; }

LlamaConfig LlamaConfig::builtin(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) throw UsageError("unknown decoder-only architecture \"arch:" + name + "\"");
  const Preset& p = it->second;
  LlamaConfig c;
  c.model_type = p.model_type;
  c.vocab_size = p.vocab;
  c.hidden_size = p.hidden;
  c.intermediate_size = p.intermediate;
  c.num_hidden_layers = p.layers;
  c.num_attention_heads = p.heads;
  c.num_key_value_heads = p.kv_heads;
  c.head_dim = p.hidden / p.heads;
  c.max_position_embeddings = p.max_positions;
  c.rope_theta = p.theta;
  c.rope_scaling = p.scaling;
  c.tie_word_embeddings = p.tied;
  c.attention_bias = c.model_type == "qwen2";
  c.rms_norm_eps = name == "stories260k" ? 1e-5 : 1e-6;
  if (name.rfind("llama-1b", 0) == 0 || name.rfind("llama-3", 0) == 0) {
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
    c.rms_norm_eps = 1e-5;
  }
  if (c.model_type == "qwen2") {
    c.bos_token_id = 151643;
    c.eos_token_ids = {151643};
  }
  if (name == "llama-2-7b" || name == "tinyllama-1.1b") c.rms_norm_eps = 1e-5;
  if (name == "smollm-135m") {
    c.bos_token_id = 0;
    c.eos_token_ids = {0};
    c.rms_norm_eps = 1e-5;
  }
  c.validate("arch:" + name);
  return c;
}

std::vector<std::string> LlamaConfig::builtin_names() {
  std::vector<std::string> names;
  for (const auto& [name, preset] : presets()) names.push_back(name);
  return names;
}

nlohmann::json LlamaConfig::to_json() const {
  static const std::map<std::string, std::string> classes = {
      {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"mistral", "MistralForCausalLM"}};
  nlohmann::json json = {
      {"architectures", {classes.at(model_type)}},
      {"model_type", model_type},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", tie_word_embeddings},
      {"bos_token_id", bos_token_id},
      {"torch_dtype", dtype},
  };
  if (model_type != "qwen2") json["attention_bias"] = attention_bias;
  if (mlp_bias) json["mlp_bias"] = true;
  json["eos_token_id"] = eos_token_ids.size() == 1 ? nlohmann::json(eos_token_ids[0]) : nlohmann::json(eos_token_ids);
  if (pad_token_id >= 0) json["pad_token_id"] = pad_token_id;
  json["rope_scaling"] = nullptr;
  if (rope_scaling.enabled())
    json["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", rope_scaling.factor},
                            {"low_freq_factor", rope_scaling.low_freq_factor},
                            {"high_freq_factor", rope_scaling.high_freq_factor},
                            {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  json["sliding_window"] = sliding_window > 0 ? nlohmann::json(sliding_window) : nlohmann::json(nullptr);
  return json;
}

}  // namespace ladder
