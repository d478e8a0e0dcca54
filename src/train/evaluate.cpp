#include "ladder/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ladder/error.h"
#include "ladder/models/generate.h"
#include "ladder/models/llama/generate.h"

namespace ladder::train {

int64_t max_new_tokens_for(const TextTokenizer& tokenizer, const std::vector<std::string>& targets) {
  int64_t longest = 1;
  for (const auto& target : targets)
    longest = std::max<int64_t>(longest, static_cast<int64_t>(tokenizer.encode_text(target).size()));
  return longest + 1;
}

namespace {

// Example indices in order of length (decoding wastes little on padding; callers restore the
// input order), cut into batches whose examples have as many images as each other (one task).
std::vector<std::vector<std::size_t>> decoding_batches(const std::vector<TokenizedExample>& examples,
                                                       int64_t batch_size) {
  std::vector<std::size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = examples[a];
    const auto& y = examples[b];
    if (x.image_ids.size() != y.image_ids.size()) return x.image_ids.size() < y.image_ids.size();
    return x.source.size() < y.source.size();
  });
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(batch_size));
    for (std::size_t i = start + 1; i < end; ++i)
      if (examples[order[i]].image_ids.size() != examples[order[start]].image_ids.size()) end = i;
    batches.emplace_back(order.begin() + start, order.begin() + end);
    start = end;
  }
  return batches;
}

void check_decode_options(const DecodeOptions& options) {
  if (options.batch_size < 1 || options.max_new_tokens < 1 || options.num_beams < 1)
    throw UsageError("decoding needs a batch size, max_new_tokens and beams of at least 1");
}

// A decoder-only model continues each prompt greedily, both caches on (the backbone's and a
// side network's).
std::vector<std::string> generate_completions(FineTuningMethod& method, const TextTokenizer& tokenizer,
                                              const std::vector<TokenizedExample>& examples,
                                              const DecodeOptions& options) {
  if (options.num_beams > 1) throw UsageError("beam search is for T5 models; decoder-only models decode greedily");
  const LlamaConfig& config = method.backbone_handle().causal_lm_or_null()->config;
  GenerationOptions generation;
  generation.max_new_tokens = options.max_new_tokens;
  generation.vocab_limit = tokenizer.vocab_size();
  generation.sampling = options.sampling;
  generation.on_step = options.on_step;
  CollateOptions prompts_only;
  prompts_only.with_labels = false;
  prompts_only.decoder_only = true;
  std::vector<std::string> texts(examples.size());
  for (const auto& indices : decoding_batches(examples, options.batch_size)) {
    Seq2SeqBatch batch = collate(examples, indices, config.fill_token_id(), prompts_only);
    auto session = method.start_causal_decoding(/*use_cache=*/true);
    torch::Tensor generated = greedy_generate(*session, batch.input_ids.to(options.device),
                                              batch.attention_mask.to(options.device), config, generation)
                                  .to(torch::kCPU);
    auto rows = generated.accessor<int64_t, 2>();
    for (std::size_t r = 0; r < indices.size(); ++r) {
      std::vector<int64_t> ids;
      for (int64_t t = 0; t < generated.size(1) && !config.is_eos(rows[r][t]); ++t) ids.push_back(rows[r][t]);
      texts[indices[r]] = tokenizer.decode_text(ids);
    }
  }
  return texts;
}

}  // namespace

std::vector<std::string> generate_texts(FineTuningMethod& method, const TextTokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        const DecodeOptions& options) {
  std::vector<TokenizedExample> examples(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) examples[i].source = sources[i];
  return generate_texts(method, tokenizer, examples, options);
}

std::vector<std::string> generate_texts(FineTuningMethod& method, const TextTokenizer& tokenizer,
                                        const std::vector<TokenizedExample>& examples, const DecodeOptions& options) {
  check_decode_options(options);
  std::vector<std::string> texts(examples.size());
  if (examples.empty()) return texts;
  method.set_training(false);
  torch::NoGradGuard no_grad;
  if (method.backbone_handle().is_causal_lm()) return generate_completions(method, tokenizer, examples, options);
  GenerationOptions generation;
  generation.max_new_tokens = options.max_new_tokens;
  generation.vocab_limit = tokenizer.vocab_size();  // T5 pads its embedding past the tokenizer's ids
  generation.num_beams = options.num_beams;
  generation.sampling = options.sampling;
  generation.on_step = options.on_step;
  const T5Config& config = method.config();
  CollateOptions collate_options;
  collate_options.with_labels = false;
  collate_options.visual = options.visual;
  for (const auto& indices : decoding_batches(examples, options.batch_size)) {
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
      texts[indices[r]] = tokenizer.decode_text(ids);
    }
  }
  return texts;
}

std::map<std::string, double> evaluate_loss(FineTuningMethod& method, const std::vector<TokenizedExample>& examples,
                                            const DecodeOptions& options) {
  check_decode_options(options);
  if (examples.empty()) throw UsageError("no examples to evaluate");
  method.set_training(false);
  torch::NoGradGuard no_grad;
  CollateOptions collate_options;
  collate_options.decoder_only = method.backbone_handle().is_causal_lm();
  collate_options.visual = options.visual;
  const int64_t pad = method.backbone_handle().padding_id();
  double loss_sum = 0;
  int64_t tokens = 0;
  for (const auto& indices : decoding_batches(examples, options.batch_size)) {
    const Seq2SeqBatch batch = collate(examples, indices, pad, collate_options);
    // The loss is a mean over the batch's target tokens (a decoder-only model predicts every
    // label but the first of a row, whose predecessor is not there).
    const int64_t predicted = collate_options.decoder_only
                                  ? batch.labels.narrow(1, 1, batch.labels.size(1) - 1).ne(-100).sum().item<int64_t>()
                                  : batch.labels.ne(-100).sum().item<int64_t>();
    if (predicted == 0) continue;
    loss_sum += method.forward(batch_to(batch, options.device)).loss.item<double>() * static_cast<double>(predicted);
    tokens += predicted;
  }
  if (tokens == 0) throw UsageError("no target tokens to evaluate the loss on");
  const double loss = loss_sum / static_cast<double>(tokens);
  return {{"loss", loss}, {"perplexity", std::exp(loss)}, {"score", -loss}};
}

Evaluation evaluate(FineTuningMethod& method, const TextTokenizer& tokenizer, const TaskSpec& task,
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
