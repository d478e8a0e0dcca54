// Prompt tuning (Lester et al. 2021): num_virtual_tokens learned vectors are prepended to the
// encoder's input embeddings (the backbone's "prompt_embeddings", which also extends the
// attention mask); everything else is frozen.
//
// Initialisation as the prompt-tuning paper's "sampled vocab" and the authors' code
// (init_prefix_from_vocab): embeddings of distinct token ids drawn at random below 5,000 (the
// frequent pieces of T5's vocabulary), from the method's seeded generator.
//
// Settings: num_virtual_tokens, default 100 (the paper's baseline).
//
// A decoder-only backbone reads the vectors before every sequence (PEFT's prompt tuning for
// CAUSAL_LM), in training and generation; the pool is the first 5,000 ids as well.
#include "baseline_settings.h"
#include "ladder/methods/factories.h"

namespace ladder {
namespace {

const char* const kMethod = "prompt";
constexpr int64_t kSampledVocab = 5000;

class PromptMethod : public FineTuningMethod {
 public:
  PromptMethod(Backbone backbone, const MethodOptions& options) : FineTuningMethod(std::move(backbone)) {
    check_setting_keys(options.settings, {"num_virtual_tokens"}, kMethod);
    num_virtual_tokens_ = baseline::int_setting(options.settings, "num_virtual_tokens", 100, 1, kMethod);
    freeze_backbone();

    torch::Generator generator = at::detail::createCPUGenerator(options.seed);
    const int64_t pool = std::min(kSampledVocab, handle_.vocab_size());
    // Distinct ids while the pool allows it (as the authors' permutation), repeats beyond.
    torch::Tensor ids = num_virtual_tokens_ <= pool
                            ? torch::randperm(pool, generator, torch::kLong).slice(0, 0, num_virtual_tokens_)
                            : torch::randint(0, pool, {num_virtual_tokens_}, generator, torch::kLong);
    torch::Tensor init;
    {
      torch::NoGradGuard no_grad;
      // embed() dequantises only these rows of a quantised table.
      const torch::Tensor on_device = ids.to(handle_.device());
      init = (handle_.is_t5() ? backbone_->embed(on_device) : handle_.causal_lm_or_null()->embed(on_device))
                 .to(torch::kFloat)
                 .clone();
    }
    if (handle_.is_t5()) {
      backbone_->set_prompt(init);
      prompt_ = backbone_->prompt_embeddings;
    } else {
      handle_.causal_lm_or_null()->set_prompt(init);
      prompt_ = handle_.causal_lm_or_null()->prompt_embeddings;
    }
    prompt_.set_requires_grad(true);
  }

  std::string name() const override { return kMethod; }
  nlohmann::json settings() const override { return {{"num_virtual_tokens", num_virtual_tokens_}}; }
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override {
    return {{"prompt_embeddings", prompt_}};
  }

 private:
  int64_t num_virtual_tokens_;
  torch::Tensor prompt_;
};

}  // namespace

std::unique_ptr<FineTuningMethod> make_prompt(Backbone backbone, const MethodOptions& options) {
  return std::make_unique<PromptMethod>(std::move(backbone), options);
}

}  // namespace ladder
