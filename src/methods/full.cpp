// Full fine-tuning: every parameter of the backbone trains (the paper's 100% baseline).
#include "ladder/error.h"
#include "ladder/methods/factories.h"
#include "ladder/models/quantize.h"

namespace ladder {
namespace {

class FullMethod : public FineTuningMethod {
 public:
  FullMethod(Backbone backbone, const MethodOptions& options)
      : FineTuningMethod(std::move(backbone)) {
    check_setting_keys(options.settings, {}, "full");
    torch::nn::Module& model = handle_.module();
    const QuantFormat quantization = quantization_of(model);
    if (quantization != QuantFormat::none)
      throw UsageError("full: --backbone-dtype " + quant_format_name(quantization) +
                       " stores the backbone quantised and frozen, but full fine-tuning trains every backbone "
                       "weight; use --backbone-dtype fp32 or bf16, or a method with a frozen backbone "
                       "(lst, lora, adapter, bitfit, prompt)");
    // The trained weights are the backbone itself, and trainable weights are fp32: AdamW steps
    // of lr * 1 (~3e-4 relative) mostly vanish when added to bf16 weights (8-bit mantissa).
    // The parameter objects stay the same, so nothing that holds them is invalidated.
    bool all_fp32 = true;
    for (const auto& p : model.parameters()) all_fp32 = all_fp32 && p.scalar_type() == torch::kFloat;
    if (!all_fp32) model.to(torch::kFloat);
    for (auto& p : model.parameters()) p.set_requires_grad(true);
  }

  std::string name() const override { return "full"; }
  nlohmann::json settings() const override { return nlohmann::json::object(); }

  // The backbone's own names (Hugging Face's), so the saved file is a plain checkpoint.
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (auto& item : handle_.module().named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
    return out;
  }
};

}  // namespace

std::unique_ptr<FineTuningMethod> make_full(Backbone backbone, const MethodOptions& options) {
  return std::make_unique<FullMethod>(std::move(backbone), options);
}

}  // namespace ladder
