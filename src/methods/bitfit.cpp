// BitFit (Ben Zaken et al. 2022) for T5, whose Linears have no biases: a zero-initialised fp32
// bias is added to every projection of the backbone (attention q, k, v, o in self- and
// cross-attention; feed-forward wi or wi_0/wi_1, and wo) and only those train, so a fresh
// method computes exactly what the plain model does. A decoder-only model gets the same on its
// seven projections; biases it already has (Qwen2's q, k, v) train from their pretrained
// values, in fp32.
//
// Not included, unlike the authors' BitFit run: biases on the layer norms (T5's RMS norm has
// none to add) and a bias on the vocabulary head (lm_head is frozen and, for tied models, is
// the embedding matrix itself). No settings.
#include "baseline_settings.h"
#include "ladder/methods/factories.h"

namespace ladder {
namespace {

const char* const kMethod = "bitfit";
const std::vector<std::string> kT5Projections = {"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"};
const std::vector<std::string> kDecoderOnlyProjections = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                          "gate_proj", "up_proj", "down_proj"};

class BitFitMethod : public FineTuningMethod {
 public:
  BitFitMethod(Backbone backbone, const MethodOptions& options)
      : FineTuningMethod(std::move(backbone)) {
    check_setting_keys(options.settings, {}, kMethod);
    freeze_backbone();
    const std::vector<std::string>& projections = handle_.is_t5() ? kT5Projections : kDecoderOnlyProjections;
    for (const auto& item : handle_.module().named_modules()) {
      auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value());
      // By leaf name, which leaves out lm_head and the Linears inside other methods' modules.
      if (!linear || std::find(projections.begin(), projections.end(), baseline::leaf_name(item.key())) ==
                         projections.end())
        continue;
      // Trainable tensors are fp32 master copies, a pretrained bias included.
      if (linear->bias.defined() && linear->bias.scalar_type() != torch::kFloat) {
        torch::NoGradGuard no_grad;
        linear->bias.set_data(linear->bias.data().to(torch::kFloat));
      }
      linear->add_bias();
      linear->bias.set_requires_grad(true);
      trainable_.emplace_back(item.key() + ".bias", linear->bias);
    }
  }

  std::string name() const override { return kMethod; }
  nlohmann::json settings() const override { return nlohmann::json::object(); }
  // e.g. encoder.block.0.layer.0.SelfAttention.q.bias: the names a Linear with bias would have.
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override { return trainable_; }

 private:
  std::vector<std::pair<std::string, torch::Tensor>> trainable_;
};

}  // namespace

std::unique_ptr<FineTuningMethod> make_bitfit(Backbone backbone, const MethodOptions& options) {
  return std::make_unique<BitFitMethod>(std::move(backbone), options);
}

}  // namespace ladder
