#pragma once
// Greedy decoding of a method over many inputs and scoring against references.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ladder/methods/method.h"
#include "ladder/models/sampling.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "ladder/train/batching.h"
#include "ladder/train/task_data.h"

namespace ladder::train {

struct DecodeOptions {
  int64_t batch_size = 100;
  int64_t max_new_tokens = 8;
  torch::Device device = torch::kCPU;
  int64_t num_beams = 1;                   // > 1: beam search (the authors' VL runs: 5)
  SamplingOptions sampling;                // greedy unless a temperature is given (generate)
  const VisualFeatures* visual = nullptr;  // vision-language runs: the examples' images
  // The ablation that shows whether a model reads the images: evaluate_split gives every image
  // of the split the features of another image of the split (a fixed derangement).
  bool swap_images = false;
  // evaluate_split adds "predictions": one object per example (source, prediction, target; a
  // vision-language example's images and scored answers), for `ladder eval --predictions`.
  bool keep_predictions = false;
  // Streaming (generate --stream): GenerationOptions::on_step, for greedy or sampled decoding.
  std::function<bool(const torch::Tensor& next, const torch::Tensor& ended)> on_step;
};

// max_new_tokens for a label set: the longest tokenised target (without </s>) + 1 for </s>
// (or a decoder-only model's eos).
// A prediction that runs past that is cut and, not being a label, counts as wrong.
int64_t max_new_tokens_for(const TextTokenizer& tokenizer, const std::vector<std::string>& targets);

// Decoded texts (up to the first </s>, or a decoder-only model's first eos: its continuation of
// each prompt), one per source, in input order. The method is put in eval mode (and left
// there); inputs are decoded in batches of similar length.
std::vector<std::string> generate_texts(FineTuningMethod& method, const TextTokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        const DecodeOptions& options);
// The same over tokenised examples (their sources, and their images with options.visual).
std::vector<std::string> generate_texts(FineTuningMethod& method, const TextTokenizer& tokenizer,
                                        const std::vector<TokenizedExample>& examples, const DecodeOptions& options);

// The mean loss per target token over `examples` (their targets: completions, or the whole
// text of a plain-text task) as {"loss", "perplexity", "score" = -loss}, for tasks that are
// scored by how well the model predicts text rather than by what it generates.
std::map<std::string, double> evaluate_loss(FineTuningMethod& method, const std::vector<TokenizedExample>& examples,
                                            const DecodeOptions& options);

struct Evaluation {
  std::map<std::string, double> metrics;  // "score" and the task's metrics
  std::vector<std::string> predictions;
};

// The task's metrics of `predictions` (one per example, in order). Vision-language tasks are
// scored against vl_truth (the examples as loaded), required for them and ignored otherwise.
std::map<std::string, double> score_evaluation(const TaskSpec& task, const std::vector<std::string>& predictions,
                                               const std::vector<std::string>& references,
                                               const std::vector<data::Example>* vl_truth);

// Vision-language tasks are scored against vl_truth (the examples as loaded: answers and
// references); it is required for them and ignored otherwise.
Evaluation evaluate(FineTuningMethod& method, const TextTokenizer& tokenizer, const TaskSpec& task,
                    const std::vector<TokenizedExample>& examples, const std::vector<std::string>& references,
                    const DecodeOptions& options, const std::vector<data::Example>* vl_truth = nullptr);

}  // namespace ladder::train
