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
#include "ladder/models/backbone.h"
#include "ladder/models/t5/model.h"
#include "ladder/tokenizer/text_tokenizer.h"

namespace ladder::train {

struct TokenizedExample {
  // Encoder-decoder: the input and the target, </s> ending each. Decoder-only: the prompt (with
  // the start token its tokenizer adds) and the completion that follows it (its eos last).
  std::vector<int64_t> source;
  std::vector<int64_t> target;
  // Vision-language examples: their images, their task's index in a multi-task run (batches
  // never mix tasks), and for VQA/GQA every answer with its label score (training draws one).
  std::vector<std::string> image_ids;
  int64_t group = 0;
  std::vector<std::vector<int64_t>> answer_targets;
  std::vector<double> answer_weights;
};

class VisualFeatures;

// Encoder-decoder examples: sources are cut to max_source_length ids and targets to
// max_target_length (</s> kept last).
std::vector<TokenizedExample> tokenize_examples(const std::vector<data::Example>& examples,
                                                const TextTokenizer& tokenizer, int64_t max_source_length,
                                                int64_t max_target_length);
// Decoder-only examples: the prompt as the model reads an input (encode_input), the
// completion as a continuation of it (encode_text: the prompt and the completion are
// tokenised apart, so that a generated answer is read back exactly as it was trained) and
// `eos_id`. A prompt longer than max_source_length keeps its start tokens and its end (the cue
// the completion follows); a completion is cut to max_target_length, eos kept last.
std::vector<TokenizedExample> tokenize_completions(const std::vector<data::Example>& examples,
                                                   const TextTokenizer& tokenizer, int64_t eos_id,
                                                   int64_t max_source_length, int64_t max_target_length);

// Right-padded batch of examples[indices]: input_ids padded with pad_id, attention_mask 1 for
// tokens and 0 for padding, labels padded with -100 (ignored by the loss). Without labels only
// the inputs are filled (decoding). CPU tensors.
Seq2SeqBatch collate(const std::vector<TokenizedExample>& examples, const std::vector<std::size_t>& indices,
                     int64_t pad_id, bool with_labels = true);
// tokenize_examples for an encoder-decoder backbone, tokenize_completions (eos: the model's
// first) for a decoder-only one.
std::vector<TokenizedExample> tokenize_for(const Backbone& backbone, const TextTokenizer& tokenizer,
                                           const std::vector<data::Example>& examples, int64_t max_source_length,
                                           int64_t max_target_length);

struct CollateOptions {
  bool with_labels = true;
  // Decoder-only layout (models/backbone.h): each row is source + target, right-padded, with
  // labels aligned to it and -100 on the prompt and the padding, so the loss is the
  // completion's. Without labels: the prompts alone, left-padded, ready for generation.
  bool decoder_only = false;
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

// Non-padding tokens of a batch (encoder-decoder: inputs + labels; decoder-only: the
// sequences), for throughput.
int64_t count_tokens(const Seq2SeqBatch& batch, bool decoder_only = false);

}  // namespace ladder::train
