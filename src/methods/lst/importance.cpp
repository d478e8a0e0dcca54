// Per-parameter importance for the side network's initialisation (docs/lst-design.md §6): the
// empirical Fisher information of the training loss, or the weights' magnitude; pruning.cpp
// turns it into the side network's weights.
#include <functional>

#include "ladder/error.h"
#include "ladder/methods/decoder_only_lst.h"
#include "ladder/methods/lst.h"
#include "ladder/models/backbone.h"
#include "ladder/models/quantize.h"

namespace ladder {
namespace {

// A quantised backbone's importance is |W| of its dequantised weights: the weights the model
// actually computes with. Each is dequantised on its own; the map itself is fp32-sized, as
// for an unquantised backbone, and lives only while the side network is initialised.
std::map<std::string, torch::Tensor> magnitudes(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> importance;
  for (const auto& [name, shape] : logical_parameters(model)) importance[name] = logical_weight(model, name).abs();
  return importance;
}

using LossOf = std::function<torch::Tensor(const Seq2SeqBatch&)>;

std::map<std::string, torch::Tensor> fisher_sums(torch::nn::Module& model, const std::vector<Seq2SeqBatch>& batches,
                                                 const LossOf& loss_of, const FineTuningMethod::ExampleDone& on_example) {
  if (const std::string why = fisher_refusal(model); !why.empty()) throw UsageError(why);
  const bool was_training = model.is_training();
  model.eval();
  std::map<std::string, torch::Tensor> sums;
  std::vector<std::pair<torch::Tensor, bool>> restore;
  for (auto& item : model.named_parameters()) {
    restore.emplace_back(item.value(), item.value().requires_grad());
    item.value().set_requires_grad(true);
    // Summed on the model's device; moved to the CPU once at the end.
    sums[item.key()] = torch::zeros(item.value().sizes(), item.value().options().dtype(torch::kFloat));
  }
  auto put_back = [&] {
    model.zero_grad();
    for (auto& [tensor, requires_grad] : restore) {
      tensor.set_requires_grad(requires_grad);
      tensor.mutable_grad() = torch::Tensor();
    }
    model.train(was_training);
  };
  try {
    for (std::size_t k = 0; k < batches.size(); ++k) {
      model.zero_grad();
      loss_of(batches[k]).backward();
      torch::NoGradGuard no_grad;
      for (auto& item : model.named_parameters())
        if (item.value().grad().defined()) sums[item.key()] += item.value().grad().to(torch::kFloat).pow(2);
      if (on_example) on_example(k + 1, batches.size());
    }
  } catch (...) {
    put_back();
    throw;
  }
  put_back();
  for (auto& [name, sum] : sums) sum = sum.cpu();
  return sums;
}

}  // namespace

std::string fisher_refusal(const torch::nn::Module& model) {
  // Fisher needs dL/dW of every backbone weight, and a quantised weight is not a parameter:
  // a gradient for it would mean a full-precision copy of the backbone, which is what
  // quantising avoids. Refused, naming the alternatives.
  const QuantFormat quantization = quantization_of(model);
  if (quantization == QuantFormat::none) return "";
  return "lst: side_init \"fisher\" needs gradients of the backbone weights, which a --backbone-dtype " +
         quant_format_name(quantization) +
         " backbone does not hold; use --settings '{\"side_init\": \"magnitude\"}' (|W| of the "
         "dequantised weights) or \"random\", or --backbone-dtype fp32 or bf16";
}

std::map<std::string, torch::Tensor> magnitude_importance(T5ForConditionalGenerationImpl& model) { return magnitudes(model); }
std::map<std::string, torch::Tensor> magnitude_importance(LlamaForCausalLMImpl& model) { return magnitudes(model); }

std::map<std::string, torch::Tensor> fisher_importance(T5ForConditionalGenerationImpl& model,
                                                       const std::vector<Seq2SeqBatch>& batches,
                                                       const FineTuningMethod::ExampleDone& on_example) {
  return fisher_sums(model, batches, [&](const Seq2SeqBatch& batch) { return model.forward(batch).loss; }, on_example);
}

std::map<std::string, torch::Tensor> fisher_importance(LlamaForCausalLMImpl& model,
                                                       const std::vector<Seq2SeqBatch>& batches,
                                                       const FineTuningMethod::ExampleDone& on_example) {
  return fisher_sums(model, batches, [&](const Seq2SeqBatch& batch) { return model.forward(causal_batch(batch)).loss; },
                     on_example);
}

std::string LstMethod::initialize_from_examples(const std::vector<Seq2SeqBatch>& examples,
                                               const SumAcrossRanks& sum_across_ranks, const ExampleDone& on_example) {
  if (examples.empty() && !sum_across_ranks) throw Error("Fisher importance needs at least one training example");
  // On the text part, as for text tasks: the backbone never sees the visual tokens.
  std::vector<Seq2SeqBatch> text_only = examples;
  for (auto& batch : text_only) batch.visual = {};
  std::map<std::string, torch::Tensor> importance = fisher_importance(*backbone_, text_only, on_example);
  // Sums of grad**2: the ranks' partial sums add up to the whole sample's.
  if (sum_across_ranks)
    for (auto& [name, sum] : importance) sum_across_ranks(sum);
  initialize_side(importance);
  return "fisher: side network initialised from " + std::to_string(examples.size()) + " training examples";
}

}  // namespace ladder
