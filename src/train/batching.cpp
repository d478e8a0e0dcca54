#include "ladder/train/batching.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "ladder/data/shuffle.h"
#include "ladder/error.h"
#include "ladder/models/llama/generate.h"
#include "ladder/train/visual_features.h"

namespace ladder::train {

uint64_t mix_seed(uint64_t seed, int64_t counter, uint64_t purpose) {
  data::SplitMix64 mixer(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(counter + 1)) ^ (purpose << 56));
  return mixer.next();
}

namespace {

// The first max_length ids, the last one kept last: a cut sequence still ends like every other.
std::vector<int64_t> cut_keeping_last(std::vector<int64_t> ids, int64_t max_length) {
  if (max_length > 0 && static_cast<int64_t>(ids.size()) > max_length) {
    const int64_t last = ids.back();
    ids.resize(static_cast<std::size_t>(max_length));
    ids.back() = last;
  }
  return ids;
}

void check_lengths(int64_t max_source_length, int64_t max_target_length) {
  if (max_source_length < 2 || max_target_length < 2)
    throw UsageError(expected_found("maximum source/target length", "at least 2 (one token and the end or start token)",
                                    std::to_string(std::min(max_source_length, max_target_length))));
}

}  // namespace

std::vector<TokenizedExample> tokenize_examples(const std::vector<data::Example>& examples,
                                                const TextTokenizer& tokenizer, int64_t max_source_length,
                                                int64_t max_target_length) {
  check_lengths(max_source_length, max_target_length);
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  std::vector<std::string> task_order;  // vision-language tasks in order of first appearance
  for (const auto& example : examples) {
    TokenizedExample t;
    t.source = cut_keeping_last(tokenizer.encode_input(example.source), max_source_length);
    t.target = cut_keeping_last(tokenizer.encode_input(example.target), max_target_length);
    t.image_ids = example.image_ids;
    if (example.answers.size() > 1)
      for (const auto& [answer, weight] : example.answers) {
        t.answer_targets.push_back(cut_keeping_last(tokenizer.encode_input(answer), max_target_length));
        t.answer_weights.push_back(weight);
      }
    if (!example.vl_task.empty()) {
      auto it = std::find(task_order.begin(), task_order.end(), example.vl_task);
      if (it == task_order.end()) it = task_order.insert(task_order.end(), example.vl_task);
      t.group = it - task_order.begin();
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TokenizedExample> tokenize_completions(const std::vector<data::Example>& examples,
                                                   const TextTokenizer& tokenizer, int64_t eos_id,
                                                   int64_t max_source_length, int64_t max_target_length) {
  check_lengths(max_source_length, max_target_length);
  // The tokens encode_input adds in front (<s>, <|begin_of_text|>, or none).
  const std::size_t start_tokens = tokenizer.encode_input("").size();
  if (static_cast<int64_t>(start_tokens) >= max_source_length)
    throw UsageError(expected_found("maximum prompt length", "more than the " + std::to_string(start_tokens) +
                                    " start token(s) the tokenizer adds", std::to_string(max_source_length)));
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  for (const auto& example : examples) {
    TokenizedExample t;
    t.source = tokenizer.encode_input(example.source);
    if (static_cast<int64_t>(t.source.size()) > max_source_length)
      t.source.erase(t.source.begin() + static_cast<std::ptrdiff_t>(start_tokens),
                     t.source.end() - (max_source_length - static_cast<int64_t>(start_tokens)));
    t.target = tokenizer.encode_text(example.target);
    t.target.push_back(eos_id);
    t.target = cut_keeping_last(std::move(t.target), max_target_length);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TokenizedExample> tokenize_for(const Backbone& backbone, const TextTokenizer& tokenizer,
                                           const std::vector<data::Example>& examples, int64_t max_source_length,
                                           int64_t max_target_length) {
  if (!backbone.is_causal_lm()) return tokenize_examples(examples, tokenizer, max_source_length, max_target_length);
  const LlamaConfig& config = backbone.causal_lm_or_null()->config;
  if (config.eos_token_ids.empty())
    throw UsageError("the model's config.json names no eos_token_id: a completion needs one to end");
  return tokenize_completions(examples, tokenizer, config.eos_token_ids.front(), max_source_length, max_target_length);
}

const std::vector<int64_t>& training_target(const TokenizedExample& example, std::size_t index,
                                            const std::optional<uint64_t>& answer_seed) {
  if (!answer_seed || example.answer_targets.empty()) return example.target;
  double total = 0;
  for (double w : example.answer_weights) total += w;
  if (total <= 0) return example.target;
  data::SplitMix64 draw(mix_seed(*answer_seed, static_cast<int64_t>(index), kAnswerSeedPurpose));
  const double u = static_cast<double>(draw.next() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0;
  for (std::size_t a = 0; a < example.answer_targets.size(); ++a) {
    cumulative += example.answer_weights[a];
    if (u < cumulative && example.answer_weights[a] > 0) return example.answer_targets[a];
  }
  return example.answer_targets.back();
}

namespace {

Seq2SeqBatch collate_decoder_only(const std::vector<TokenizedExample>& examples,
                                  const std::vector<std::size_t>& indices, int64_t pad_id, const CollateOptions& options) {
  if (indices.empty()) throw Error("collate: empty batch");
  if (options.visual) throw UsageError("image features need a vision-language T5, not a decoder-only model");
  std::vector<std::vector<int64_t>> rows;
  for (std::size_t i : indices) {
    if (i >= examples.size()) throw Error("collate: example index out of range");
    rows.push_back(examples[i].source);
    if (options.with_labels) rows.back().insert(rows.back().end(), examples[i].target.begin(), examples[i].target.end());
  }
  Seq2SeqBatch batch;
  if (!options.with_labels) {  // prompts to continue: their ends line up
    std::tie(batch.input_ids, batch.attention_mask) = left_padded_batch(rows, pad_id);
    return batch;
  }
  int64_t length = 1;
  for (const auto& row : rows) length = std::max<int64_t>(length, static_cast<int64_t>(row.size()));
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<int64_t> ids(n * length, pad_id), mask(n * length, 0), labels(n * length, -100);
  for (int64_t r = 0; r < n; ++r) {
    const auto& example = examples[indices[r]];
    std::copy(rows[r].begin(), rows[r].end(), ids.begin() + r * length);
    std::fill_n(mask.begin() + r * length, rows[r].size(), 1);
    std::copy(example.target.begin(), example.target.end(),
              labels.begin() + r * length + static_cast<int64_t>(example.source.size()));
  }
  batch.input_ids = torch::tensor(ids, torch::kLong).view({n, length});
  batch.attention_mask = torch::tensor(mask, torch::kLong).view({n, length});
  batch.labels = torch::tensor(labels, torch::kLong).view({n, length});
  return batch;
}

}  // namespace

Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, bool with_labels) {
  CollateOptions options;
  options.with_labels = with_labels;
  return collate(examples, indices, pad_id, options);
}

Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, const CollateOptions& options) {
  if (options.decoder_only) return collate_decoder_only(examples, indices, pad_id, options);
  const bool with_labels = options.with_labels;
  if (indices.empty()) throw Error("collate: empty batch");
  int64_t source_length = 1, target_length = 1;
  std::vector<const std::vector<int64_t>*> targets;
  for (std::size_t i : indices) {
    if (i >= examples.size()) throw Error("collate: example index out of range");
    targets.push_back(&training_target(examples[i], i, options.answer_seed));
    source_length = std::max<int64_t>(source_length, static_cast<int64_t>(examples[i].source.size()));
    target_length = std::max<int64_t>(target_length, static_cast<int64_t>(targets.back()->size()));
  }
  const int64_t rows = static_cast<int64_t>(indices.size());
  std::vector<int64_t> ids(rows * source_length, pad_id), mask(rows * source_length, 0);
  std::vector<int64_t> labels(with_labels ? rows * target_length : 0, -100);
  for (int64_t r = 0; r < rows; ++r) {
    const auto& example = examples[indices[r]];
    std::copy(example.source.begin(), example.source.end(), ids.begin() + r * source_length);
    std::fill_n(mask.begin() + r * source_length, example.source.size(), 1);
    if (with_labels) std::copy(targets[r]->begin(), targets[r]->end(), labels.begin() + r * target_length);
  }
  Seq2SeqBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kLong).view({rows, source_length});
  batch.attention_mask = torch::tensor(mask, torch::kLong).view({rows, source_length});
  if (with_labels) batch.labels = torch::tensor(labels, torch::kLong).view({rows, target_length});
  if (options.visual) batch.visual = options.visual->batch(examples, indices);
  return batch;
}

Seq2SeqBatch batch_to(const Seq2SeqBatch& batch, const torch::Device& device) {
  Seq2SeqBatch out;
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  out.input_ids = move(batch.input_ids);
  out.attention_mask = move(batch.attention_mask);
  out.labels = move(batch.labels);
  out.decoder_input_ids = move(batch.decoder_input_ids);
  out.visual = visual_to(batch.visual, device);
  return out;
}

namespace {

// Cuts `order` into batches, bucketing by source length within pools when asked.
void cut_batches(const std::vector<TokenizedExample>& examples, const BatchingOptions& options,
                 std::vector<std::size_t> order, std::vector<std::vector<std::size_t>>& batches) {
  const std::size_t batch = static_cast<std::size_t>(options.batch_size);
  if (!options.bucket_by_length) {
    for (std::size_t start = 0; start < order.size(); start += batch)
      batches.emplace_back(order.begin() + start, order.begin() + std::min(order.size(), start + batch));
    return;
  }
  const std::size_t pool = batch * static_cast<std::size_t>(std::max<int64_t>(1, options.bucket_pool));
  for (std::size_t start = 0; start < order.size(); start += pool) {
    auto first = order.begin() + start, last = order.begin() + std::min(order.size(), start + pool);
    // stable_sort: ties keep the shuffled order, so the result is fully specified.
    std::stable_sort(first, last, [&](std::size_t a, std::size_t b) {
      return examples[a].source.size() < examples[b].source.size();
    });
    for (auto it = first; it < last; it += std::min<std::ptrdiff_t>(batch, last - it))
      batches.emplace_back(it, it + std::min<std::ptrdiff_t>(batch, last - it));
  }
}

}  // namespace

std::vector<std::vector<std::size_t>> epoch_batches(const std::vector<TokenizedExample>& examples,
                                                    const BatchingOptions& options, uint64_t seed, int64_t epoch) {
  if (options.batch_size < 1) throw UsageError("batch size must be at least 1");
  if (examples.empty()) throw UsageError("no training examples");
  std::vector<std::size_t> order = data::shuffled_indices(examples.size(), mix_seed(seed, epoch, 1));
  std::vector<std::vector<std::size_t>> batches;
  int64_t groups = 0;
  for (const auto& e : examples) groups = std::max(groups, e.group + 1);
  if (groups <= 1) {
    cut_batches(examples, options, std::move(order), batches);
    if (!options.bucket_by_length) return batches;
  } else {
    // A multi-task run: every batch holds one task (the authors' round-robin MultitaskLoader:
    // each task's shuffled batches, then the batch order shuffled).
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<std::size_t> members;
      for (std::size_t i : order)
        if (examples[i].group == g) members.push_back(i);
      cut_batches(examples, options, std::move(members), batches);
    }
  }
  std::vector<std::size_t> batch_order = data::shuffled_indices(batches.size(), mix_seed(seed, epoch, 2));
  std::vector<std::vector<std::size_t>> shuffled;
  shuffled.reserve(batches.size());
  for (std::size_t i : batch_order) shuffled.push_back(std::move(batches[i]));
  return shuffled;
}

int64_t count_tokens(const Seq2SeqBatch& batch, bool decoder_only) {
  int64_t n = batch.attention_mask.defined() ? batch.attention_mask.sum().item<int64_t>() : batch.input_ids.numel();
  if (batch.labels.defined() && !decoder_only) n += batch.labels.ne(-100).sum().item<int64_t>();
  return n;
}

}  // namespace ladder::train
