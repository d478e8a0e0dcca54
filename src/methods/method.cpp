#include "ladder/methods/method.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/factories.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"

namespace ladder {
namespace fs = std::filesystem;

Seq2SeqOutput FineTuningMethod::forward(const Seq2SeqBatch& batch) { return handle_.forward(batch); }

std::unique_ptr<DecodingSession> FineTuningMethod::start_decoding(const Seq2SeqBatch& inputs, bool use_cache) {
  return ladder::start_decoding(*backbone(), inputs, use_cache);
}

std::unique_ptr<CausalDecodingSession> FineTuningMethod::start_causal_decoding(bool use_cache) {
  Backbone handle = handle_;
  return ladder::start_causal_decoding(*handle.causal_lm("decoder-only generation"), use_cache);
}

void FineTuningMethod::set_training(bool training) { handle_.module().train(training); }

T5ForConditionalGeneration& FineTuningMethod::backbone() {
  if (!backbone_) throw Error("internal: method " + name() + " asked for the T5 of a " + handle_.family() + " backbone");
  return backbone_;
}

const T5Config& FineTuningMethod::config() const {
  if (!backbone_) throw Error("internal: the T5 config of a " + handle_.family() + " backbone");
  return backbone_->config;
}

std::string FineTuningMethod::initialize_from_examples(const std::vector<Seq2SeqBatch>&, const SumAcrossRanks&,
                                                      const ExampleDone&) {
  throw Error("internal: method " + name() + " has no data-dependent initialisation");
}

std::string FineTuningMethod::why_backbone_not_cacheable() const {
  return "method " + name() + " trains inside its backbone (the backbone's states change with every update); only "
         "lst reads a frozen backbone from the side";
}

LadderStates FineTuningMethod::backbone_states(const Seq2SeqBatch&) {
  throw UsageError(why_backbone_not_cacheable());
}

Seq2SeqOutput FineTuningMethod::forward_from_states(const Seq2SeqBatch&, const LadderStates&) {
  throw UsageError(why_backbone_not_cacheable());
}

nlohmann::json FineTuningMethod::backbone_states_identity() const { throw UsageError(why_backbone_not_cacheable()); }

int64_t FineTuningMethod::release_backbone_blocks(const std::string&) { throw UsageError(why_backbone_not_cacheable()); }

void FineTuningMethod::restore_backbone_blocks() { throw UsageError(why_backbone_not_cacheable()); }

void FineTuningMethod::to(const torch::Device& device) {
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : named_trainable()) {
    if (tensor.device() != device) tensor.set_data(tensor.data().to(device));
  }
}

std::vector<std::pair<std::string, torch::Tensor>> FineTuningMethod::named_trainable() {
  auto out = method_trainable();
  if (!backbone_ || !backbone_->visual_embedding) return out;
  // Full fine-tuning lists the whole backbone, the visual embedding included.
  std::set<std::string> listed;
  for (const auto& item : out) listed.insert(item.first);
  for (auto& item : backbone_->visual_embedding->named_parameters()) {
    std::string name = "encoder.visual_embedding." + item.key();
    if (!listed.count(name)) out.emplace_back(std::move(name), item.value());
  }
  return out;
}

void FineTuningMethod::enable_visual(const VisualConfig& visual) {
  if (!visual.defined()) return;
  handle_.t5("vision-language input");
  backbone_->enable_visual(visual);
  visual_ = visual;
}

std::vector<torch::Tensor> FineTuningMethod::trainable_parameters() {
  std::vector<torch::Tensor> out;
  for (auto& [name, tensor] : named_trainable()) out.push_back(tensor);
  return out;
}

int64_t FineTuningMethod::trainable_count() {
  int64_t n = 0;
  for (auto& [name, tensor] : named_trainable()) n += tensor.numel();
  return n;
}

int64_t FineTuningMethod::count_parameters(const torch::nn::Module& module) {
  // Logical shapes: a quantised weight counts as the parameters it stands for.
  int64_t n = 0;
  for (const auto& [name, shape] : logical_parameters(module)) {
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    n += numel;
  }
  return n;
}

void FineTuningMethod::freeze_backbone() {
  for (auto& p : handle_.module().parameters()) p.set_requires_grad(false);
}

void check_setting_keys(const nlohmann::json& settings, const std::vector<std::string>& known,
                        const std::string& method) {
  if (!settings.is_object()) throw UsageError(method + ": settings must be a JSON object");
  for (const auto& item : settings.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw UsageError(method + ": unknown setting \"" + item.key() + "\" (known: " + list + ")");
    }
  }
}

std::vector<std::string> method_names() { return {"lst", "full", "lora", "adapter", "bitfit", "prompt"}; }

double default_learning_rate(const std::string& method) {
  if (method == "lst") return 3e-3;
  if (method == "prompt") return 0.3;
  return 3e-4;
}

std::unique_ptr<FineTuningMethod> make_method(Backbone backbone, const MethodOptions& options) {
  const std::string& n = options.name;
  std::unique_ptr<FineTuningMethod> method;
  if (n == "lst" && backbone.is_causal_lm()) method = make_decoder_only_lst(backbone.causal_lm(n), options);
  else if (n == "lst") method = make_lst(backbone.t5(n), options);
  else if (n == "full") method = make_full(std::move(backbone), options);
  else if (n == "lora") method = make_lora(std::move(backbone), options);
  else if (n == "adapter") method = make_adapter(std::move(backbone), options);
  else if (n == "bitfit") method = make_bitfit(std::move(backbone), options);
  else if (n == "prompt") method = make_prompt(std::move(backbone), options);
  else throw UsageError("unknown method \"" + n + "\" (known: lst, full, lora, adapter, bitfit, prompt)");
  // After the method froze what it does not train: the visual embedding always trains.
  method->enable_visual(options.visual);
  return method;
}

namespace {

nlohmann::json backbone_identity(FineTuningMethod& method) {
  return {{"config", method.backbone_handle().config_json()},
          {"parameter_checksum", method.backbone_checksum()}};
}

nlohmann::json visual_json(const VisualConfig& visual) {
  nlohmann::json out = {{"feature_dim", visual.feature_dim}, {"images", visual.images}};
  if (!visual.feature_mean.empty()) {
    out["feature_mean"] = visual.feature_mean;
    out["feature_std"] = visual.feature_std;
  }
  return out;
}

}  // namespace

void save_method(FineTuningMethod& method, const std::string& dir) {
  fs::create_directories(dir);
  nlohmann::json config = {
      {"method", method.name()},
      {"peft_type", method.name() == "lora" ? "LORA" : method.name() == "prompt" ? "PROMPT_TUNING" : method.name()},
      {"settings", method.settings()},
      {"base_model", backbone_identity(method)},
      {"trainable_parameters", method.trainable_count()},
      {"visual", visual_json(method.visual_config())},
      {"library", "ladder"},
  };
  if (method.name() == "lora") {
    // The PEFT fields that let PEFT users load the file directly.
    const auto s = method.settings();
    config["r"] = s.value("r", 32);
    config["lora_alpha"] = s.value("alpha", 32.0);
    config["lora_dropout"] = s.value("dropout", 0.0);
    config["target_modules"] = s.value("target_modules", std::vector<std::string>{"q", "v"});
    config["task_type"] = method.backbone_handle().is_t5() ? "SEQ_2_SEQ_LM" : "CAUSAL_LM";
    config["bias"] = "none";
  }
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, tensor] : method.named_trainable()) tensors[name] = tensor.detach().to(torch::kFloat);
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  write_json_atomically((fs::path(dir) / "adapter_config.json").string(), config);
}

std::unique_ptr<FineTuningMethod> load_method(Backbone backbone, const std::string& dir,
                                              torch::ScalarType backbone_dtype) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  if (!fs::exists(config_path))
    throw LoadError(config_path + ": not found (expected a directory written by ladder train or save_method)");
  const nlohmann::json config = read_json_file(config_path);
  if (!config.contains("method") || !config.contains("settings") || !config.contains("base_model"))
    throw FormatError(config_path + ": missing \"method\", \"settings\" or \"base_model\"");
  MethodOptions options;
  options.name = config["method"].get<std::string>();
  options.settings = config["settings"];
  // LST folders saved before the setting existed computed the authors' visual stream.
  if (options.name == "lst" && options.settings.is_object() && !options.settings.contains("visual_stream"))
    options.settings["visual_stream"] = "authors";
  options.backbone_dtype = backbone_dtype;
  if (config.contains("visual")) {
    const auto& visual = config["visual"];
    if (!visual.is_object() || !visual.value("feature_dim", nlohmann::json(0)).is_number_integer() ||
        !visual.value("images", nlohmann::json(2)).is_number_integer())
      throw FormatError(config_path + ": \"visual\" must be {\"feature_dim\": int, \"images\": int}");
    options.visual.feature_dim = visual.value("feature_dim", int64_t{0});
    options.visual.images = visual.value("images", int64_t{2});
    if (options.visual.feature_dim < 0 || options.visual.images < 1)
      throw FormatError(config_path + ": \"visual\" has a negative feature_dim or no images");
    try {
      options.visual.feature_mean = visual.value("feature_mean", std::vector<float>{});
      options.visual.feature_std = visual.value("feature_std", std::vector<float>{});
    } catch (const nlohmann::json::exception&) {
      throw FormatError(config_path + ": \"visual\": feature_mean and feature_std must be lists of numbers");
    }
  }
  const std::string expected = config["base_model"].value("parameter_checksum", "");
  const std::string found = architecture_checksum(backbone.module());
  if (expected != found)
    throw LoadError(config_path + ": " + expected_found("backbone", "parameter checksum " + expected,
                                                        found, "these weights were trained on a different base model"));
  const nlohmann::json saved_config = config["base_model"].value("config", nlohmann::json::object());
  const nlohmann::json current = backbone.config_json();
  for (const char* key : {"model_type", "d_model", "d_ff", "d_kv", "num_heads", "num_layers", "num_decoder_layers",
                          "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads"})
    if (saved_config.contains(key) && saved_config[key] != current.value(key, nlohmann::json()))
      throw LoadError(config_path + ": " + expected_found(std::string("backbone ") + key, saved_config[key].dump(),
                                                          current.value(key, nlohmann::json()).dump(), "wrong base model?"));
  std::unique_ptr<FineTuningMethod> method;
  try {
    method = make_method(std::move(backbone), options);
  } catch (const UsageError& e) {
    throw FormatError(config_path + ": " + e.what());  // the settings came from this file
  }
  const std::string weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
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
      throw LoadError(weights_path + ": tensor " + name + " has the wrong shape");
    tensor.copy_(it->second);
    stored.erase(it);
  }
  if (!missing.empty()) throw LoadError(weights_path + ": missing tensor " + missing.front() +
                                        (missing.size() > 1 ? " and " + std::to_string(missing.size() - 1) + " more" : ""));
  if (!stored.empty()) throw LoadError(weights_path + ": unexpected tensor " + stored.begin()->first);
  return method;
}

}  // namespace ladder
