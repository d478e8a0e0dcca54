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
  if (options.batch_size < 1 || options.max_new_tokens < 1)
    throw UsageError("decoding needs a batch size and max_new_tokens of at least 1");
  std::vector<std::string> texts(sources.size());
  if (sources.empty()) return texts;
  // Decoding in order of length wastes little on padding; the output order is restored.
  std::vector<std::size_t> order(sources.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return sources[a].size() < sources[b].size(); });
  std::vector<TokenizedExample> examples(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) examples[i].source = sources[i];

  method.set_training(false);
  torch::NoGradGuard no_grad;
  GenerationOptions generation;
  generation.max_new_tokens = options.max_new_tokens;
  generation.vocab_limit = tokenizer.vocab_size();  // T5 pads its embedding past the tokenizer's ids
  const T5Config& config = method.config();
  const std::size_t batch_size = static_cast<std::size_t>(options.batch_size);
  for (std::size_t start = 0; start < order.size(); start += batch_size) {
    std::vector<std::size_t> indices(order.begin() + start, order.begin() + std::min(order.size(), start + batch_size));
    Seq2SeqBatch batch = batch_to(collate(examples, indices, config.pad_token_id, /*with_labels=*/false), options.device);
    auto session = method.start_decoding(batch, /*use_cache=*/true);
    torch::Tensor generated = greedy_generate(*session, static_cast<int64_t>(indices.size()), config, generation,
                                              options.device).to(torch::kCPU);
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
                    const DecodeOptions& options) {
  if (examples.size() != references.size())
    throw Error("evaluate: " + std::to_string(examples.size()) + " examples but " + std::to_string(references.size()) +
                " references");
  std::vector<std::vector<int64_t>> sources;
  sources.reserve(examples.size());
  for (const auto& e : examples) sources.push_back(e.source);
  Evaluation result;
  result.predictions = generate_texts(method, tokenizer, sources, options);
  result.metrics = score_predictions(task, result.predictions, references);
  return result;
}

}  // namespace ladder::train
