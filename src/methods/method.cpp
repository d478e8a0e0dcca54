#include "ladder/methods/method.h"

#include <set>

#include "ladder/error.h"
#include "ladder/methods/factories.h"
#include "ladder/models/quantize.h"
#include "ladder/models/t5/load.h"

namespace ladder {

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

}  // namespace ladder
