#include "ladder/train/evaluate.h"

#include <algorithm>
#include <numeric>

#include "ladder/error.h"
#include "ladder/models/generate.h"

namespace ladder::train {

int64_t max_new_tokens_for(const T5Tokenizer& tokenizer, const std::vector<std::string>& targets) {
  int64_t longest = 1;
  for (const auto& target : targets)
    longest = std::max<int64_t>(longest, static_cast<int64_t>(tokenizer.encode(target, -1, /*add_eos=*/false).size()));
  return longest + 1;
}

std::vector<std::string> generate_texts(FineTuningMethod& method, const T5Tokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        const DecodeOptions& options) {
  std::vector<TokenizedExample> examples(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) examples[i].source = sources[i];
  return generate_texts(method, tokenizer, examples, options);
}

std::vector<std::string> generate_texts(FineTuningMethod& method, const T5Tokenizer& tokenizer,
                                        const std::vector<TokenizedExample>& examples, const DecodeOptions& options) {
  if (options.batch_size < 1 || options.max_new_tokens < 1 || options.num_beams < 1)
    throw UsageError("decoding needs a batch size, max_new_tokens and beams of at least 1");
  std::vector<std::string> texts(examples.size());
  if (examples.empty()) return texts;
  // Decoding in order of length wastes little on padding; the output order is restored. A
  // batch holds examples with as many images as each other (one task).
  std::vector<std::size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = examples[a];
    const auto& y = examples[b];
    if (x.image_ids.size() != y.image_ids.size()) return x.image_ids.size() < y.image_ids.size();
    return x.source.size() < y.source.size();
  });

  method.set_training(false);
  torch::NoGradGuard no_grad;
  GenerationOptions generation;
  generation.max_new_tokens = options.max_new_tokens;
  generation.vocab_limit = tokenizer.vocab_size();  // T5 pads its embedding past the tokenizer's ids
  generation.num_beams = options.num_beams;
  const T5Config& config = method.config();
  const std::size_t batch_size = static_cast<std::size_t>(options.batch_size);
  CollateOptions collate_options;
  collate_options.with_labels = false;
  collate_options.visual = options.visual;
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = std::min(order.size(), start + batch_size);
    for (std::size_t i = start + 1; i < end; ++i)
      if (examples[order[i]].image_ids.size() != examples[order[start]].image_ids.size()) end = i;
    std::vector<std::size_t> indices(order.begin() + start, order.begin() + end);
    start = end;
    Seq2SeqBatch batch = batch_to(collate(examples, indices, config.pad_token_id, collate_options), options.device);
    auto session = method.start_decoding(batch, /*use_cache=*/true);
    torch::Tensor generated =
        generate(*session, static_cast<int64_t>(indices.size()), config, generation, options.device).to(torch::kCPU);
    auto rows = generated.accessor<int64_t, 2>();
    for (std::size_t r = 0; r < indices.size(); ++r) {
      std::vector<int64_t> ids;
      for (int64_t t = 1; t < generated.size(1); ++t) {  // skip the start token
        if (rows[r][t] == config.eos_token_id) break;
        ids.push_back(rows[r][t]);
      }
      texts[indices[r]] = tokenizer.decode(ids);
    }
  }
  return texts;
}

Evaluation evaluate(FineTuningMethod& method, const T5Tokenizer& tokenizer, const TaskSpec& task,
                    const std::vector<TokenizedExample>& examples, const std::vector<std::string>& references,
                    const DecodeOptions& options, const std::vector<data::Example>* vl_truth) {
  if (examples.size() != references.size())
    throw Error("evaluate: " + std::to_string(examples.size()) + " examples but " + std::to_string(references.size()) +
                " references");
  Evaluation result;
  result.predictions = generate_texts(method, tokenizer, examples, options);
  result.metrics = score_evaluation(task, result.predictions, references, vl_truth);
  return result;
}

std::map<std::string, double> score_evaluation(const TaskSpec& task, const std::vector<std::string>& predictions,
                                               const std::vector<std::string>& references,
                                               const std::vector<data::Example>* vl_truth) {
  if (!task.is_vl()) return score_predictions(task, predictions, references);
  if (!vl_truth || vl_truth->size() != predictions.size())
    throw Error("internal: evaluate: a vision-language task needs its examples' answers and references");
  return score_vl_predictions(predictions, *vl_truth);
}

}  // namespace ladder::train
