#pragma once
// From text examples to padded batches: every example is tokenised once, each batch is padded
// only to its own longest row, and an epoch's batch order is a pure function of
// (seed, epoch), so a resumed run rebuilds exactly the batches it had not yet seen.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ladder/data/example.h"
#include "ladder/models/t5/model.h"
#include "ladder/tokenizer/t5_tokenizer.h"

namespace ladder::train {

struct TokenizedExample {
  std::vector<int64_t> source;  // ids, </s> included
  std::vector<int64_t> target;  // ids, </s> included
  // Vision-language examples: their images, their task's index in a multi-task run (batches
  // never mix tasks), and for VQA/GQA every answer with its label score (training draws one).
  std::vector<std::string> image_ids;
  int64_t group = 0;
  std::vector<std::vector<int64_t>> answer_targets;
  std::vector<double> answer_weights;
};

class VisualFeatures;

// Sources are cut to max_source_length ids and targets to max_target_length (</s> kept last).
std::vector<TokenizedExample> tokenize_examples(const std::vector<data::Example>& examples,
                                                const T5Tokenizer& tokenizer, int64_t max_source_length,
                                                int64_t max_target_length);

// Right-padded batch of examples[indices]: input_ids padded with pad_id, attention_mask 1 for
// tokens and 0 for padding, labels padded with -100 (ignored by the loss). Without labels only
// the inputs are filled (decoding). CPU tensors.
Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, bool with_labels = true);
struct CollateOptions {
  bool with_labels = true;
  const VisualFeatures* visual = nullptr;  // fills batch.visual from the examples' images
  // Training: each VQA/GQA label is drawn from its answers' scores (the authors' multinomial),
  // a pure function of (answer_seed, example index). Unset: the example's target.
  std::optional<uint64_t> answer_seed;
};
Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, const CollateOptions& options);
Seq2SeqBatch batch_to(const Seq2SeqBatch& batch, const torch::Device& device);

struct BatchingOptions {
  int64_t batch_size = 100;
  // Groups examples of similar source length (less padding): the shuffled order is cut into
  // pools of bucket_pool batches, each pool sorted by length and cut into batches, then the
  // batch order is shuffled again. Off: plain shuffled batches.
  bool bucket_by_length = false;
  int64_t bucket_pool = 50;
};

// The batches (example indices) of epoch `epoch` (0-based); the last batch may be smaller.
std::vector<std::vector<std::size_t>> epoch_batches(const std::vector<TokenizedExample>& examples,
                                                    const BatchingOptions& options, uint64_t seed, int64_t epoch);

// Distinct, well-mixed seeds per (seed, counter, purpose): counter is an epoch (data order)
// or an update (dropout); nearby seeds and counters never give the same stream.
uint64_t mix_seed(uint64_t seed, int64_t counter, uint64_t purpose);
constexpr uint64_t kDropoutSeedPurpose = 3;  // 1 and 2: epoch_batches' shuffles
constexpr uint64_t kAnswerSeedPurpose = 4;
constexpr uint64_t kRankSeedPurpose = 5;  // a data-parallel rank's own dropout stream

// Non-padding tokens of a batch (inputs + labels), for throughput.
int64_t count_tokens(const Seq2SeqBatch& batch);

}  // namespace ladder::train
