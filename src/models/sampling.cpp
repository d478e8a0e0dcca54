#include "ladder/models/sampling.h"

#include <cmath>
#include <limits>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include "ladder/error.h"

namespace ladder {

void SamplingOptions::validate() const {
  if (!std::isfinite(temperature) || temperature < 0)
    throw UsageError("--temperature: expected 0 (greedy) or a positive number, found " + std::to_string(temperature));
  if (top_k < 0) throw UsageError("--top-k: expected 0 (off) or a positive count, found " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) throw UsageError("--top-p: expected a number in (0, 1], found " + std::to_string(top_p));
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0)
    throw UsageError("--repetition-penalty: expected a positive number (1: off), found " +
                     std::to_string(repetition_penalty));
  if (!sampled() && (top_k > 0 || top_p < 1))
    throw UsageError("--top-k and --top-p filter what is sampled: give a --temperature above 0 too");
}

torch::Generator sampling_generator(const SamplingOptions& options) {
  return at::detail::createCPUGenerator(options.seed);
}

torch::Tensor pick_next_tokens(torch::Tensor logits, const torch::Tensor& previous, const SamplingOptions& options,
                               torch::Generator& generator) {
  logits = logits.to(torch::kFloat);
  if (options.repetition_penalty != 1.0 && previous.defined() && previous.size(1) > 0) {
    const torch::Tensor seen = logits.gather(1, previous);
    const torch::Tensor penalised =
        torch::where(seen > 0, seen / options.repetition_penalty, seen * options.repetition_penalty);
    logits = logits.scatter(1, previous, penalised);
  }
  if (!options.sampled()) return logits.argmax(-1);
  logits = logits / options.temperature;
  const float forbidden = -std::numeric_limits<float>::infinity();
  if (options.top_k > 0 && options.top_k < logits.size(-1)) {
    const torch::Tensor kth = std::get<0>(logits.topk(options.top_k, -1)).narrow(-1, options.top_k - 1, 1);
    logits = logits.masked_fill(logits < kth, forbidden);
  }
  if (options.top_p < 1.0) {
    auto [sorted, order] = logits.sort(-1, /*descending=*/true);
    const torch::Tensor cumulative = sorted.softmax(-1).cumsum(-1);
    // Drop a token when the more likely ones already reach top_p; the first always stays.
    torch::Tensor drop = (cumulative - sorted.softmax(-1)) >= options.top_p;
    logits = logits.scatter(-1, order, sorted.masked_fill(drop, forbidden));
  }
  const torch::Tensor probabilities = logits.softmax(-1).to(torch::kCPU);
  return torch::multinomial(probabilities, 1, /*replacement=*/false, generator).squeeze(1).to(logits.device());
}

}  // namespace ladder
