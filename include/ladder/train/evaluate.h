#pragma once
// Greedy decoding of a method over many inputs and scoring against references.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ladder/methods/method.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/batching.h"
#include "ladder/train/task_data.h"

namespace ladder::train {

struct DecodeOptions {
  int64_t batch_size = 100;
  int64_t max_new_tokens = 8;
  torch::Device device = torch::kCPU;
};

// max_new_tokens for a label set: the longest tokenised target (without </s>) + 1 for </s>.
// A prediction that runs past that is cut and, not being a label, counts as wrong.
int64_t max_new_tokens_for(const T5Tokenizer& tokenizer, const std::vector<std::string>& targets);

// Decoded texts (up to the first </s>), one per source, in input order. The method is put in
// eval mode (and left there); inputs are decoded in batches of similar length.
std::vector<std::string> generate_texts(FineTuningMethod& method, const T5Tokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        const DecodeOptions& options);

struct Evaluation {
  std::map<std::string, double> metrics;  // "score" and the task's metrics
  std::vector<std::string> predictions;
};

Evaluation evaluate(FineTuningMethod& method, const T5Tokenizer& tokenizer, const TaskSpec& task,
                    const std::vector<TokenizedExample>& examples, const std::vector<std::string>& references,
                    const DecodeOptions& options);

}  // namespace ladder::train
