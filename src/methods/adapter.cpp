// Bottleneck adapters, as in the paper's baseline (the authors' seq2seq code, itself from
// Compacter): one adapter after the self-attention sublayer and one after the feed-forward
// sublayer of every encoder and decoder block, applied to the sublayer output before the
// residual. Cross-attention gets none (the authors' code adds none there). All layer-norm
// weights train too (their "unfreeze_layer_norms": true), the final norms included.
//
// Settings:
//   reduction_factor   bottleneck = d_model / reduction_factor, default 16 (t5-base: 48)
//   activation         relu | gelu_new | silu, default gelu_new (the authors' non_linearity)
//   train_layer_norms  default true
//
// With t5-base this trains 48 adapters x 74,544 + 62 norms x 768 = 3,625,728 parameters,
// 1.63% of the 222.9M backbone: the paper's figure.
//
// A decoder-only (Llama-family) backbone gets the same two per layer, after its self-attention
// and after its MLP (model.layers.N.self_attn.adapter.*, model.layers.N.mlp.adapter.*), and its
// RMSNorms train (input_layernorm, post_attention_layernorm, model.norm).
#include "baseline_settings.h"
#include "ladder/error.h"
#include "ladder/methods/factories.h"

namespace ladder {
namespace {

const char* const kMethod = "adapter";

class AdapterMethod : public FineTuningMethod {
 public:
  AdapterMethod(Backbone backbone, const MethodOptions& options) : FineTuningMethod(std::move(backbone)) {
    const nlohmann::json& s = options.settings;
    check_setting_keys(s, {"reduction_factor", "activation", "train_layer_norms"}, kMethod);
    const int64_t d_model = handle_.is_t5() ? config().d_model : handle_.causal_lm_or_null()->config.hidden_size;
    reduction_factor_ = baseline::int_setting(s, "reduction_factor", 16, 1, kMethod);
    if (reduction_factor_ > d_model)
      throw baseline::bad_setting(kMethod, "reduction_factor", "at most d_model = " + std::to_string(d_model),
                                  reduction_factor_);
    activation_ = baseline::choice_setting(s, "activation", "gelu_new", {"relu", "gelu_new", "silu"}, kMethod);
    train_layer_norms_ = baseline::bool_setting(s, "train_layer_norms", true, kMethod);
    const int64_t bottleneck = d_model / reduction_factor_;

    freeze_backbone();
    // One generator, adapters drawn in block order: the same seed gives the same weights.
    torch::Generator generator = at::detail::createCPUGenerator(options.seed);
    const auto attach = [&](auto& sublayer) {
      sublayer->adapter = sublayer->register_module("adapter", Adapter(d_model, bottleneck, generator, activation_));
    };
    if (handle_.is_t5()) {
      for (T5Stack* stack : {&backbone_->encoder, &backbone_->decoder})
        for (auto& block : (*stack)->blocks) {
          attach(block->self_attention);
          attach(block->feed_forward);
        }
    } else {
      for (auto& layer : handle_.causal_lm_or_null()->model->layers) {
        attach(layer->self_attn);
        attach(layer->mlp);
      }
    }
    // Module order, so adapters and norms interleave as the model reads them.
    for (const auto& item : handle_.module().named_modules()) {
      if (std::dynamic_pointer_cast<AdapterImpl>(item.value())) {
        for (auto& p : item.value()->named_parameters(/*recurse=*/true))
          trainable_.emplace_back(item.key() + "." + p.key(), p.value());
      } else if (train_layer_norms_) {
        if (auto norm = std::dynamic_pointer_cast<T5LayerNormImpl>(item.value()))
          trainable_.emplace_back(item.key() + ".weight", norm->weight);
      }
    }
    for (auto& [name, tensor] : trainable_) {
      // Norm weights are the backbone's and may be bf16; trainable tensors are fp32.
      if (tensor.scalar_type() != torch::kFloat) tensor.set_data(tensor.data().to(torch::kFloat));
      tensor.set_requires_grad(true);
    }
    to(handle_.device());
  }

  std::string name() const override { return kMethod; }
  nlohmann::json settings() const override {
    return {{"reduction_factor", reduction_factor_}, {"activation", activation_},
            {"train_layer_norms", train_layer_norms_}};
  }
  // The backbone's module paths, e.g. encoder.block.0.layer.0.adapter.down.weight and
  // encoder.block.0.layer.0.layer_norm.weight.
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override { return trainable_; }

 private:
  int64_t reduction_factor_;
  std::string activation_;
  bool train_layer_norms_;
  std::vector<std::pair<std::string, torch::Tensor>> trainable_;
};

}  // namespace

std::unique_ptr<FineTuningMethod> make_adapter(Backbone backbone, const MethodOptions& options) {
  return std::make_unique<AdapterMethod>(std::move(backbone), options);
}

}  // namespace ladder
