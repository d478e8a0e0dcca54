// Prompt tuning (Lester et al. 2021): num_virtual_tokens learned vectors are prepended to the
// encoder's input embeddings (the backbone's "prompt_embeddings", which also extends the
// attention mask); everything else is frozen.
//
// Initialisation as the prompt-tuning paper's "sampled vocab" and the authors' code
// (init_prefix_from_vocab): embeddings of distinct token ids drawn at random below 5,000 (the
// frequent pieces of T5's vocabulary), from the method's seeded generator.
//
// Settings: num_virtual_tokens, default 100 (the paper's baseline).
#include "baseline_settings.h"
#include "ladder/methods/factories.h"

namespace ladder {
namespace {

const char* const kMethod = "prompt";
constexpr int64_t kSampledVocab = 5000;

class PromptMethod : public FineTuningMethod {
 public:
  PromptMethod(T5ForConditionalGeneration backbone, const MethodOptions& options)
      : FineTuningMethod(std::move(backbone)) {
    check_setting_keys(options.settings, {"num_virtual_tokens"}, kMethod);
    num_virtual_tokens_ = baseline::int_setting(options.settings, "num_virtual_tokens", 100, 1, kMethod);
    freeze_backbone();

    torch::Generator generator = at::detail::createCPUGenerator(options.seed);
    const int64_t pool = std::min(kSampledVocab, config().vocab_size);
    // Distinct ids while the pool allows it (as the authors' permutation), repeats beyond.
    torch::Tensor ids = num_virtual_tokens_ <= pool
                            ? torch::randperm(pool, generator, torch::kLong).slice(0, 0, num_virtual_tokens_)
                            : torch::randint(0, pool, {num_virtual_tokens_}, generator, torch::kLong);
    torch::Tensor init;
    {
      torch::NoGradGuard no_grad;
      // embed() dequantises only these rows of a quantised table.
      init = backbone_->embed(ids.to(backbone_->device())).to(torch::kFloat).clone();
    }
    backbone_->set_prompt(init);
    backbone_->prompt_embeddings.set_requires_grad(true);
  }

  std::string name() const override { return kMethod; }
  nlohmann::json settings() const override { return {{"num_virtual_tokens", num_virtual_tokens_}}; }
  std::vector<std::pair<std::string, torch::Tensor>> method_trainable() override {
    return {{"prompt_embeddings", backbone_->prompt_embeddings}};
  }

 private:
  int64_t num_virtual_tokens_;
};

}  // namespace

std::unique_ptr<FineTuningMethod> make_prompt(T5ForConditionalGeneration backbone, const MethodOptions& options) {
  return std::make_unique<PromptMethod>(std::move(backbone), options);
}

}  // namespace ladder
