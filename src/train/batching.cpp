#include "ladder/train/batching.h"

#include <algorithm>
#include <numeric>

#include "ladder/data/shuffle.h"
#include "ladder/error.h"
#include "ladder/train/visual_features.h"

namespace ladder::train {

uint64_t mix_seed(uint64_t seed, int64_t counter, uint64_t purpose) {
  data::SplitMix64 mixer(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(counter + 1)) ^ (purpose << 56));
  return mixer.next();
}

namespace {

std::vector<int64_t> cut(std::vector<int64_t> ids, int64_t max_length, int64_t eos_id) {
  if (max_length > 0 && static_cast<int64_t>(ids.size()) > max_length) {
    ids.resize(static_cast<std::size_t>(max_length));
    ids.back() = eos_id;  // the cut sequence still ends like every other one
  }
  return ids;
}

}  // namespace

std::vector<TokenizedExample> tokenize_examples(const std::vector<data::Example>& examples,
                                                const T5Tokenizer& tokenizer, int64_t max_source_length,
                                                int64_t max_target_length) {
  if (max_source_length < 2 || max_target_length < 2)
    throw UsageError(expected_found("maximum source/target length", "at least 2 (one token and </s>)",
                                    std::to_string(std::min(max_source_length, max_target_length))));
  std::vector<TokenizedExample> out;
  out.reserve(examples.size());
  std::vector<std::string> task_order;  // vision-language tasks in order of first appearance
  for (const auto& example : examples) {
    TokenizedExample t;
    t.source = tokenizer.encode(example.source, max_source_length);
    // The tokenizer cuts pieces before </s>; cut() only guards the invariant.
    t.target = cut(tokenizer.encode(example.target, max_target_length), max_target_length, tokenizer.eos_id());
    t.image_ids = example.image_ids;
    if (example.answers.size() > 1)
      for (const auto& [answer, weight] : example.answers) {
        t.answer_targets.push_back(
            cut(tokenizer.encode(answer, max_target_length), max_target_length, tokenizer.eos_id()));
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

Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, bool with_labels) {
  CollateOptions options;
  options.with_labels = with_labels;
  return collate(examples, indices, pad_id, options);
}

Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, const CollateOptions& options) {
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

int64_t count_tokens(const Seq2SeqBatch& batch) {
  int64_t n = batch.attention_mask.defined() ? batch.attention_mask.sum().item<int64_t>() : batch.input_ids.numel();
  if (batch.labels.defined()) n += batch.labels.ne(-100).sum().item<int64_t>();
  return n;
}

}  // namespace ladder::train
