#pragma once
// How the next token is chosen from the logits: greedy (the default, and what evaluation uses)
// or sampled with a temperature, top-k and top-p (nucleus) filtering and a repetition penalty,
// as Hugging Face's generate() applies them (penalty, temperature, top-k, top-p, in that order).
#include <cstdint>

#include <torch/torch.h>

namespace ladder {

struct SamplingOptions {
  double temperature = 0;           // 0: greedy (argmax); > 0: sample from softmax(logits / T)
  int64_t top_k = 0;                // > 0: only the k most likely tokens
  double top_p = 1.0;               // < 1: the smallest set of tokens whose probability reaches p
  double repetition_penalty = 1.0;  // > 1: logits of tokens already in the sequence divided by
                                    // it where positive, multiplied where negative (CTRL's)
  uint64_t seed = 0;                // the draws of one call are a function of the seed

  bool sampled() const { return temperature > 0; }
  // UsageError naming the flag for values out of range (top-k/top-p without a temperature too).
  void validate() const;
};

// A generator for the draws, seeded with options.seed (on the CPU, so that a seed gives the
// same text on every device).
torch::Generator sampling_generator(const SamplingOptions& options);

// logits [N, V] (float; -inf where a token is forbidden), previous [N, t] the ids of each row
// so far (the penalty's "already in the sequence") -> the next id of each row [N], on logits'
// device.
torch::Tensor pick_next_tokens(torch::Tensor logits, const torch::Tensor& previous, const SamplingOptions& options,
                               torch::Generator& generator);

}  // namespace ladder
