#pragma once
// `ladder pretrain`: T5 span-corruption pretraining of a small T5 from scratch, written as a
// Hugging Face folder that ladder (and transformers) load like any downloaded checkpoint.
//
// Default architecture (default_model_config): T5 v1.1 style, "t5-mini"
//   d_model 256, d_kv 32, 8 heads (inner 256), d_ff 1024 gated-gelu, 4 encoder + 4 decoder
//   layers, 32 relative-position buckets up to distance 128, vocabulary 32128 (the T5
//   tokenizer's 32100 rounded up to 128, as T5 does), untied lm_head without the d_model^-0.5
//   output scaling, dropout 0 (T5 v1.1 pretrained without dropout).
//   25.9M parameters, 16.4M of them in the embedding and the head. Why this size: the compute
//   at hand is a 2-core CPU (~1k tokens/s for this model) and at best a single GPU for
//   minutes; 4+4 layers of width 256 are the smallest T5 that still learns the objective well
//   on a ~16M-token corpus (GCIDE + WordNet glosses) in a day of CPU time, while 8 heads of 32
//   keep attention cheap. Larger models would not see the corpus even once on the CPU.
//
// Initialisation: Hugging Face's T5 init (init_t5_weights) except lm_head, which gets
// std d_model^-0.5 (fan-in) instead of HF's 1.0: with an untied, unscaled head, HF's std gives
// logits of std ~sqrt(d_model) = 16 at the start (initial loss ~60 instead of ln V ~ 10.4) and
// plain AdamW (unlike Adafactor's parameter-scaled steps) then needs thousands of updates just
// to shrink the head.
//
// Optimisation: AdamW (train::AdamW, the fine-tuning trainer's, fp32 moments) on all weights,
// no weight decay by default, global gradient clipping at 1.0, linear warmup then linear
// decay to 0 at max_steps (or inverse square root, T5's own, or constant). Precision bf16
// runs the forward/backward on a bf16 copy of the weights and updates fp32 master weights.
//
// Run directory OUT:
//   config.json, model.safetensors, spiece.model  the Hugging Face folder (load_model(OUT)),
//                                                 rewritten at every checkpoint and at the end
//   pretrain_options.json                         every setting of the run (resume reads it)
//   pretrain_log.jsonl                            {"type":"start", unigram baseline, ...},
//                                                 {"type":"train", progress fields, tokens_seen}
//   pretrain_state/                               model.safetensors (fp32 master weights),
//                                                 optimizer.safetensors (AdamW moments),
//                                                 state.json (step, data position, counters);
//                                                 swapped in atomically
//
// Determinism: the data stream is a pure function of the options and its recorded position,
// and torch::manual_seed(seed + step) precedes every update (dropout), so on the CPU a run
// interrupted and resumed ends with the same weights as a straight run.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/models/t5/config.h"
#include "ladder/models/t5/model.h"
#include "ladder/pretrain/corpus.h"
#include "ladder/pretrain/span_corruption.h"
#include "ladder/train/optimizer.h"

namespace ladder::pretrain {

// The default small T5 v1.1-style architecture (header comment) for a vocabulary.
T5Config default_model_config(int64_t vocab_size = 32128);
// A tokenizer's vocabulary rounded up to a multiple of 128 (32100 -> 32128).
int64_t padded_vocab_size(int64_t tokenizer_vocab_size);

struct PretrainOptions {
  T5Config model = default_model_config();
  std::string tokenizer;  // spiece.model, copied into OUT
  CorpusOptions corpus;
  SpanCorruptionOptions corruption;
  int64_t input_length = 128;  // corrupted input length; raw and target lengths follow
  int64_t batch_size = 128;
  int64_t max_steps = 10000;
  double learning_rate = 2e-3;
  std::string schedule = "linear";  // linear | inverse-sqrt | constant (all after warmup)
  int64_t warmup_steps = -1;        // < 0: min(1000, max_steps / 10)
  train::AdamWOptions adam;
  double max_grad_norm = 1.0;
  int64_t log_every = 10;
  int64_t save_every = 1000;
  int64_t baseline_examples = 1000;  // examples for the unigram baseline
  uint64_t seed = 0;                 // weights and dropout; the data order uses corpus.seed
  std::string precision = "fp32";    // fp32 | bf16 compute (master weights stay fp32)
  std::string save_dtype = "fp32";   // dtype of OUT/model.safetensors: fp32 | bf16
  // A Hugging Face folder whose weights start the run instead of init_pretrain_weights
  // (continued or domain-adaptive pretraining); its config.json must equal `model`. The
  // optimizer starts fresh. Empty: random initialisation.
  std::string init_from;

  int64_t resolved_warmup_steps() const;
  nlohmann::json to_json() const;
  static PretrainOptions from_json(const nlohmann::json& json, const std::string& source);
  // UsageError for inconsistent settings (sizes, schedule, dtypes, a vocabulary smaller than
  // the tokenizer's is checked when the tokenizer is loaded).
  void validate() const;
};

// Learning rate of update `step` (0-based): warmup from base/warmup up to base over the
// first warmup updates, then the schedule.
double learning_rate_at(const PretrainOptions& options, int64_t step);

// Hugging Face T5 init plus the fan-in lm_head (header comment), seeded.
void init_pretrain_weights(T5ForConditionalGenerationImpl& model, uint64_t seed);

// Writes `dir`/config.json, model.safetensors (in `dtype`, metadata format=pt) and copies the
// tokenizer to `dir`/spiece.model. Each file is replaced atomically.
void save_hf_model(T5ForConditionalGenerationImpl& model, const std::string& dir, const std::string& tokenizer_path,
                   torch::ScalarType dtype);

struct PretrainHooks {
  // Polled before every update with the updates done; a non-zero signal number saves the
  // state and throws train::TrainingInterrupted(signal).
  std::function<int(int64_t step)> stop;
  std::ostream* progress = nullptr;  // progress lines (nullptr: none)
};

struct PretrainResult {
  int64_t steps = 0;
  double last_loss = 0;            // mean loss of the last logged interval
  double unigram_entropy = 0;      // nats per target token, the baseline to beat
  double tokens_per_second = 0;    // input + target tokens, this process's updates
  T5ForConditionalGeneration model{nullptr};  // the fp32 master weights
};

// Starts a run in `out_dir` (created; holding a run already is a UsageError: use resume).
PretrainResult start_pretraining(const PretrainOptions& options, const std::string& out_dir,
                                 const torch::Device& device, const PretrainHooks& hooks = {});

// What a resumed run may change: how long it runs and how often it reports (0 = keep).
struct ResumeOverrides {
  int64_t max_steps = 0;
  int64_t log_every = 0;
  int64_t save_every = 0;
};
// Continues the run in `out_dir` from pretrain_state/. A run already at max_steps returns
// at once. A larger max_steps extends it (with the linear schedule the decay is stretched
// from there on).
PretrainResult resume_pretraining(const std::string& out_dir, const torch::Device& device,
                                  const PretrainHooks& hooks = {}, const ResumeOverrides& overrides = {});

PretrainOptions load_pretrain_options(const std::string& out_dir);

}  // namespace ladder::pretrain
