#include "ladder/methods/lora.h"

#include "baseline_settings.h"
#include "ladder/error.h"
#include "ladder/methods/factories.h"

namespace ladder {

namespace {
const char* const kMethod = "lora";
const std::vector<std::string> kT5Targets = {"q", "k", "v", "o", "wi", "wo", "wi_0", "wi_1"};
// The Llama family's projections; PEFT's default targets for it are q_proj and v_proj.
const std::vector<std::string> kDecoderOnlyTargets = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"};
}  // namespace

LoraMethod::LoraMethod(Backbone backbone, const MethodOptions& options)
    : FineTuningMethod(std::move(backbone)) {
  nlohmann::json s = options.settings;
  check_setting_keys(s, {"r", "alpha", "dropout", "target_modules"}, kMethod);
  const bool t5 = handle_.is_t5();
  // PEFT's "all-linear": every projection of the blocks (not the output head), written out as
  // the list, so that a saved folder says exactly which modules carry LoRA.
  if (s.is_object() && s.value("target_modules", nlohmann::json()) == "all-linear") {
    if (!t5) s["target_modules"] = kDecoderOnlyTargets;
    else if (config().is_gated()) s["target_modules"] = {"q", "k", "v", "o", "wi_0", "wi_1", "wo"};
    else s["target_modules"] = {"q", "k", "v", "o", "wi", "wo"};
  }
  r_ = baseline::int_setting(s, "r", 32, 1, kMethod);
  alpha_ = baseline::number_setting(s, "alpha", 32.0, 0.0, 1e9, true, kMethod);
  dropout_ = baseline::number_setting(s, "dropout", 0.1, 0.0, 1.0, false, kMethod);
  target_modules_ = baseline::names_setting(s, "target_modules", t5 ? std::vector<std::string>{"q", "v"}
                                                                    : std::vector<std::string>{"q_proj", "v_proj"},
                                            t5 ? kT5Targets : kDecoderOnlyTargets, kMethod);

  freeze_backbone();
  // One generator for all modules, drawn in module order: the same seed gives the same A's.
  torch::Generator generator = at::detail::createCPUGenerator(options.seed);
  std::vector<std::string> unmatched = target_modules_;
  for (const auto& item : handle_.module().named_modules()) {
    auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value());
    const std::string leaf = baseline::leaf_name(item.key());
    // Only the backbone's own projections: lm_head and Linears inside other methods' modules
    // (lora_A, adapter down/up) have other leaf names.
    if (!linear || std::find(target_modules_.begin(), target_modules_.end(), leaf) == target_modules_.end()) continue;
    if (linear->has_lora())
      throw UsageError(std::string(kMethod) + ": " + item.key() + " already carries LoRA weights");
    linear->add_lora(r_, alpha_, dropout_, generator);
    modules_.emplace_back(item.key(), linear);
    unmatched.erase(std::remove(unmatched.begin(), unmatched.end(), leaf), unmatched.end());
  }
  if (!unmatched.empty()) {
    const std::string hint = !t5 ? "this model's projections: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
                             : config().is_gated() ? "this model's feed-forward is gated: wi_0, wi_1, wo"
                                                   : "this model's feed-forward is wi, wo";
    throw UsageError(std::string(kMethod) + ": " + expected_found("target module \"" + unmatched.front() + "\"",
                                                                  "a Linear of this model", "none", hint));
  }
  to(handle_.device());
}

nlohmann::json LoraMethod::settings() const {
  return {{"r", r_}, {"alpha", alpha_}, {"dropout", dropout_}, {"target_modules", target_modules_}};
}

std::vector<std::pair<std::string, torch::Tensor>> LoraMethod::method_trainable() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [path, linear] : modules_) {
    out.emplace_back("base_model.model." + path + ".lora_A.weight", linear->lora_A->weight);
    out.emplace_back("base_model.model." + path + ".lora_B.weight", linear->lora_B->weight);
  }
  return out;
}

void LoraMethod::set_training(bool training) {
  if (training && merged_)
    throw UsageError("lora: the LoRA weights were merged into the backbone, which is for inference; "
                     "load the saved adapter again to continue training");
  FineTuningMethod::set_training(training);
}

void LoraMethod::merge() {
  for (auto& [path, linear] : modules_) linear->merge_lora();
  merged_ = true;
}

std::vector<std::string> LoraMethod::adapted_modules() const {
  std::vector<std::string> out;
  for (const auto& [path, linear] : modules_) out.push_back(path);
  return out;
}

std::unique_ptr<FineTuningMethod> make_lora(Backbone backbone, const MethodOptions& options) {
  return std::make_unique<LoraMethod>(std::move(backbone), options);
}

}  // namespace ladder
