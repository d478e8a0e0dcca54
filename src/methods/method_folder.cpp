// A method's folder: save_method / load_method (layout in method.h). ladder's own facts live in
// ladder_config.json so that adapter_config.json can be exactly what PEFT writes for a LoRA:
// PEFT before 0.13 refuses a config with keys it does not know.
#include <filesystem>
#include <map>
#include <vector>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/method.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"

namespace ladder {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLadderConfig = "ladder_config.json";
constexpr const char* kPeftConfig = "adapter_config.json";
constexpr const char* kWeights = "adapter_model.safetensors";

nlohmann::json backbone_identity(FineTuningMethod& method) {
  return {{"config", method.backbone_handle().config_json()},
          {"parameter_checksum", method.backbone_checksum()},
          {"source", method.base_model_source()}};
}

nlohmann::json visual_json(const VisualConfig& visual) {
  nlohmann::json out = {{"feature_dim", visual.feature_dim}, {"images", visual.images}};
  if (!visual.feature_mean.empty()) {
    out["feature_mean"] = visual.feature_mean;
    out["feature_std"] = visual.feature_std;
  }
  return out;
}

// The keys every PEFT version's LoraConfig takes, with the values ladder's LoRA computes.
nlohmann::json peft_lora_config(FineTuningMethod& method) {
  const nlohmann::json s = method.settings();
  return {{"base_model_name_or_path", method.base_model_source()},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"lora_alpha", s.value("alpha", 32.0)},
          {"lora_dropout", s.value("dropout", 0.0)},
          {"modules_to_save", nullptr},
          {"peft_type", "LORA"},
          {"r", s.value("r", 32)},
          {"revision", nullptr},
          {"target_modules", s.value("target_modules", std::vector<std::string>{"q", "v"})},
          {"task_type", method.backbone_handle().is_t5() ? "SEQ_2_SEQ_LM" : "CAUSAL_LM"}};
}

// A PEFT LoraConfig as ladder's LoRA settings. What ladder's LoRA does not compute is refused,
// never dropped: the adapter would load and compute something else.
nlohmann::json lora_settings_from_peft(const nlohmann::json& peft, const std::string& path) {
  auto set = [&](const char* key) {
    return peft.contains(key) && !peft[key].is_null() && !(peft[key].is_boolean() && !peft[key].get<bool>()) &&
           !((peft[key].is_object() || peft[key].is_array()) && peft[key].empty());
  };
  try {
    if (peft.value("bias", std::string("none")) != "none")
      throw FormatError(path + ": bias \"" + peft["bias"].get<std::string>() +
                        "\": ladder's LoRA trains no biases (PEFT's bias \"none\")");
    for (const char* key : {"fan_in_fan_out", "use_dora", "use_rslora", "rank_pattern", "alpha_pattern",
                            "modules_to_save", "layers_to_transform", "layer_replication"})
      if (set(key)) throw FormatError(path + ": \"" + key + "\" is set, which ladder's LoRA does not compute");
    if (!peft.contains("target_modules") || !(peft["target_modules"].is_array() || peft["target_modules"] == "all-linear"))
      throw FormatError(path + ": \"target_modules\" must be a list of module names or \"all-linear\" (a pattern is "
                        "not read)");
    return {{"r", peft.value("r", 8)},
            {"alpha", peft.value("lora_alpha", 8.0)},
            {"dropout", peft.value("lora_dropout", 0.0)},
            {"target_modules", peft["target_modules"]}};
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": not a PEFT LoraConfig (" + e.what() + ")");
  }
}

// What load_method rebuilds the method from, and the file it came from.
struct FolderConfig {
  nlohmann::json config;
  std::string path;
  bool from_peft = false;  // a PEFT LoRA folder: no backbone identity to check
};

FolderConfig read_folder_config(const std::string& dir) {
  const std::string ladder = (fs::path(dir) / kLadderConfig).string(), peft = (fs::path(dir) / kPeftConfig).string();
  if (fs::exists(ladder)) return {read_json_file(ladder), ladder, false};
  if (!fs::exists(peft))
    throw LoadError(peft + ": not found (expected a folder written by ladder train or init, or a PEFT LoRA folder)");
  const nlohmann::json config = read_json_file(peft);
  if (config.is_object() && config.contains("method")) return {config, peft, false};  // before ladder_config.json
  const nlohmann::json type = config.is_object() ? config.value("peft_type", nlohmann::json()) : nlohmann::json();
  if (type != "LORA")
    throw FormatError(peft + ": neither ladder's (no " + kLadderConfig + " next to it) nor a PEFT LoRA (peft_type " +
                      type.dump() + ")");
  return {{{"method", "lora"}, {"settings", lora_settings_from_peft(config, peft)}, {"base_model", nlohmann::json::object()}},
          peft,
          true};
}

VisualConfig read_visual(const nlohmann::json& visual, const std::string& config_path) {
  if (!visual.is_object() || !visual.value("feature_dim", nlohmann::json(0)).is_number_integer() ||
      !visual.value("images", nlohmann::json(2)).is_number_integer())
    throw FormatError(config_path + ": \"visual\" must be {\"feature_dim\": int, \"images\": int}");
  VisualConfig out;
  out.feature_dim = visual.value("feature_dim", int64_t{0});
  out.images = visual.value("images", int64_t{2});
  if (out.feature_dim < 0 || out.images < 1)
    throw FormatError(config_path + ": \"visual\" has a negative feature_dim or no images");
  try {
    out.feature_mean = visual.value("feature_mean", std::vector<float>{});
    out.feature_std = visual.value("feature_std", std::vector<float>{});
  } catch (const nlohmann::json::exception&) {
    throw FormatError(config_path + ": \"visual\": feature_mean and feature_std must be lists of numbers");
  }
  return out;
}

void check_backbone(const nlohmann::json& base_model, Backbone& backbone, const std::string& config_path) {
  const std::string expected = base_model.value("parameter_checksum", "");
  const std::string found = architecture_checksum(backbone.module());
  if (expected != found)
    throw LoadError(config_path + ": " + expected_found("backbone", "parameter checksum " + expected, found,
                                                        "these weights were trained on a different base model"));
  const nlohmann::json saved_config = base_model.value("config", nlohmann::json::object());
  const nlohmann::json current = backbone.config_json();
  for (const char* key : {"model_type", "d_model", "d_ff", "d_kv", "num_heads", "num_layers", "num_decoder_layers",
                          "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads"})
    if (saved_config.contains(key) && saved_config[key] != current.value(key, nlohmann::json()))
      throw LoadError(config_path + ": " + expected_found(std::string("backbone ") + key, saved_config[key].dump(),
                                                          current.value(key, nlohmann::json()).dump(), "wrong base model?"));
}

}  // namespace

void save_method(FineTuningMethod& method, const std::string& dir) {
  fs::create_directories(dir);
  const nlohmann::json ladder = {
      {"method", method.name()},
      {"settings", method.settings()},
      {"base_model", backbone_identity(method)},
      {"trainable_parameters", method.trainable_count()},
      {"visual", visual_json(method.visual_config())},
      {"library", "ladder"},
  };
  const nlohmann::json peft =
      method.name() == "lora"
          ? peft_lora_config(method)
          : nlohmann::json{{"base_model_name_or_path", method.base_model_source()},
                           {"method", method.name()},
                           {"library", "ladder"},
                           {"note", std::string("not a PEFT method: ") + kLadderConfig + " describes it"}};
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, tensor] : method.named_trainable()) tensors[name] = tensor.detach().to(torch::kFloat);
  write_safetensors((fs::path(dir) / kWeights).string(), tensors, {{"format", "pt"}});
  write_json_atomically((fs::path(dir) / kPeftConfig).string(), peft);
  write_json_atomically((fs::path(dir) / kLadderConfig).string(), ladder);
}

std::string saved_method_name(const std::string& dir) {
  const FolderConfig folder = read_folder_config(dir);
  if (!folder.config.is_object() || !folder.config.value("method", nlohmann::json()).is_string())
    throw FormatError(folder.path + ": missing \"method\"");
  return folder.config["method"].get<std::string>();
}

std::unique_ptr<FineTuningMethod> load_method(Backbone backbone, const std::string& dir,
                                              torch::ScalarType backbone_dtype) {
  const FolderConfig folder = read_folder_config(dir);
  const nlohmann::json& config = folder.config;
  const std::string& config_path = folder.path;
  if (!config.is_object() || !config.contains("method") || !config.contains("settings") || !config.contains("base_model") ||
      !config["method"].is_string() || !config["base_model"].is_object())
    throw FormatError(config_path + ": missing \"method\", \"settings\" or \"base_model\"");
  MethodOptions options;
  options.name = config["method"].get<std::string>();
  options.settings = config["settings"];
  // LST folders saved before the setting existed computed the authors' visual stream.
  if (options.name == "lst" && options.settings.is_object() && !options.settings.contains("visual_stream"))
    options.settings["visual_stream"] = "authors";
  options.backbone_dtype = backbone_dtype;
  if (config.contains("visual")) options.visual = read_visual(config["visual"], config_path);
  if (!folder.from_peft) check_backbone(config["base_model"], backbone, config_path);
  std::unique_ptr<FineTuningMethod> method;
  try {
    method = make_method(std::move(backbone), options);
  } catch (const UsageError& e) {
    throw FormatError(config_path + ": " + e.what());  // the settings came from this file
  }
  const nlohmann::json source = config["base_model"].value("source", nlohmann::json(""));
  if (source.is_string()) method->set_base_model_source(source.get<std::string>());
  if (folder.from_peft) {
    const nlohmann::json peft = read_json_file(config_path);
    const nlohmann::json name = peft.value("base_model_name_or_path", nlohmann::json(""));
    if (name.is_string()) method->set_base_model_source(name.get<std::string>());
  }
  const std::string weights_path = (fs::path(dir) / kWeights).string();
  auto stored = read_safetensors(weights_path);
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing;
  for (auto& [name, tensor] : method->named_trainable()) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      missing.push_back(name);
      continue;
    }
    if (it->second.sizes() != tensor.sizes())
      throw LoadError(weights_path + ": tensor " + name + " has the wrong shape" +
                      (folder.from_peft ? " (a PEFT adapter of another base model?)" : ""));
    tensor.copy_(it->second);
    stored.erase(it);
  }
  if (!missing.empty()) throw LoadError(weights_path + ": missing tensor " + missing.front() +
                                        (missing.size() > 1 ? " and " + std::to_string(missing.size() - 1) + " more" : ""));
  if (!stored.empty()) throw LoadError(weights_path + ": unexpected tensor " + stored.begin()->first);
  return method;
}

}  // namespace ladder
