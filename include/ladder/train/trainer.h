#pragma once
// The training loop shared by every method: AdamW on the trainable tensors only, warmup +
// linear decay, gradient clipping and accumulation, periodic greedy evaluation keeping best/
// and last/, and exact resumption.
//
// Determinism: torch::manual_seed(mix_seed(seed, global_step)) starts every update and the data order
// is a function of (data_seed, epoch), so on the CPU N straight updates equal k updates,
// an interruption, a resume and N - k more, bit for bit.
//
// Run directory (see run.h for run.json):
//   last/, best/      checkpoints (checkpoint.h); best/ = highest validation "score"
//   log.jsonl         one record per log interval ({"type": "train", ...progress fields}, epoch
//                     1-based) and per evaluation ({"type": "eval", "step", "epoch" = epochs
//                     completed, fractional mid-epoch, "metrics"})
//   metrics.json      {"best": {...}, "last": {...}, "evaluations": [...]} (validation)
//
// Data parallel (a dist::ProcessGroup of N ranks): every rank holds the whole data and builds
// the same global batches; rank r computes the loss of its slice (dist::shard_range), scaled
// by its share of the global batch's target tokens, so that the summed gradients (one flat
// all-reduce per bucket, dist::GradientReducer) are those of one process with that batch,
// and clipping and the optimizer step are the same on every rank. Rank 0 alone writes; the
// validation set is decoded in slices and gathered; the trainable weights' checksums are
// compared at every evaluation. The state is global (updates, batches), so a run resumes on
// any number of ranks.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/dist/gradient_reducer.h"
#include "ladder/dist/process_group.h"
#include "ladder/methods/method.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "ladder/train/batching.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/optimizer.h"
#include "ladder/train/state_cache.h"
#include "ladder/train/task_data.h"
#include "ladder/train/visual_features.h"

namespace ladder::train {

struct TrainOptions {
  double learning_rate = 3e-3;
  std::string schedule = "linear";  // linear | constant (both after warmup)
  int64_t warmup_steps = -1;        // < 0: warmup_ratio, else resolve_warmup_steps' default (the authors' 500)
  double warmup_ratio = 0;          // > 0 with warmup_steps < 0: this share of the updates (authors' VL: 0.1)
  double max_grad_norm = 1.0;
  AdamWOptions adam;
  int64_t batch_size = 100;  // examples per micro-batch
  int64_t grad_accum = 1;    // micro-batches per update (an epoch's last update takes what is left)
  int64_t epochs = 10;       // used when max_steps == 0
  int64_t max_steps = 0;     // updates; > 0 overrides epochs
  int64_t eval_every = 0;    // updates between evaluations; 0 = at the end of every epoch
  int64_t log_every = 10;    // updates between progress lines
  int64_t eval_batch_size = 0;  // 0 = batch_size
  int64_t max_new_tokens = 0;   // 0 = max_new_tokens_for(labels or training targets)
  int64_t num_beams = 1;        // evaluation decoding: 1 greedy, more beam search (authors' VL: 5)
  bool bucket_by_length = false;
  uint64_t seed = 0;       // initialisation and dropout
  uint64_t data_seed = 0;  // data order
  // --cache-backbone: the frozen backbone's states of each training example are computed once
  // and read back afterwards (state_cache.h). cache_dir "" = RUN/backbone-cache.
  bool cache_backbone = false;
  std::string cache_dir;
  std::string cache_dtype = "bf16";
  int64_t cache_memory_bytes = int64_t{1} << 30;
  // Once every training example is cached, free the backbone's blocks for the training steps
  // (parked in the cache folder and read back for each evaluation).
  bool cache_release_backbone = true;

  int64_t warmup_for(int64_t total_steps) const;
  nlohmann::json to_json() const;
  static TrainOptions from_json(const nlohmann::json& json, const std::string& source);
  void validate() const;  // UsageError for non-positive sizes and the like
};

struct TrainData {
  std::vector<TokenizedExample> train, validation;
  std::vector<std::string> validation_references;
  // Vision-language runs: the image features, and the validation examples as loaded (their
  // answers and references score the predictions).
  std::shared_ptr<VisualFeatures> visual;
  std::vector<data::Example> validation_truth;
};

struct TrainerHooks {
  // Polled before every update with the number of updates done; a non-zero signal number
  // stops training: last/ is saved and TrainingInterrupted(signal) is thrown. Unset: never.
  std::function<int(int64_t step)> stop;
  std::ostream* progress = nullptr;  // progress lines (nullptr: none)
};

struct TrainResult {
  TrainingState state;
  nlohmann::json metrics;  // metrics.json's content
};

class Trainer {
 public:
  // `method` must sit on `device` (backbone and trainable part). Creates the optimizer over
  // method.named_trainable(). `group`: the data-parallel job this process is a rank of
  // (nullptr or a group of one: a single process); it must outlive the trainer.
  Trainer(FineTuningMethod& method, const TextTokenizer& tokenizer, TaskSpec task, TrainData data,
          TrainOptions options, std::string run_dir, torch::Device device, dist::ProcessGroup* group = nullptr);

  // Continues from a checkpoint (RUN/last): optimizer moments, counters, data position and
  // best score. The method's weights must already be loaded from the same directory.
  // `longer`: this trainer's length may exceed the checkpoint's (a resume with more updates;
  // never fewer than the checkpoint has made).
  void restore(const std::string& checkpoint_dir, bool longer = false);

  // UsageError for settings this run cannot train with (a backbone cache the method cannot
  // use, an initialisation the backbone does not allow): checked before anything is written.
  void check_settings() const;

  // Trains to the end (or to an interruption, see TrainerHooks::stop).
  TrainResult run(const TrainerHooks& hooks = {});

  int64_t steps_per_epoch() const;
  // Epochs done, fractional (as the progress and evaluation records give them).
  double epochs_done() const;
  int64_t total_steps() const;
  const TrainingState& state() const { return state_; }
  int64_t max_new_tokens() const { return max_new_tokens_; }

 private:
  void initialize_side_if_needed(const TrainerHooks& hooks);
  // FormatError naming `source` when a restored state cannot belong to this run (edited, or
  // another run's): seeds, position in the epoch, counters, evaluations.
  void check_state_fits_the_run(const TrainingState& state, const std::string& source) const;
  // What checkpoints the run directory holds now, for error messages.
  std::string on_disk() const;
  nlohmann::json evaluate_now();
  void open_backbone_cache(std::ostream* log);
  void release_backbone_if_cached(std::ostream* log);
  // One micro-batch's forward pass, through the backbone cache when there is one.
  Seq2SeqOutput forward_batch(const std::vector<std::size_t>& indices, const Seq2SeqBatch& batch);
  void save_last();
  void write_metrics();
  nlohmann::json metrics_json() const;
  // Rank 0 (or the only process) writes the run directory; the others compute alongside.
  bool writes_files() const { return !group_ || group_->rank() == 0; }
  bool distributed() const { return group_ && group_->size() > 1; }
  // The validation predictions, decoded in slices by the ranks and gathered in order.
  std::vector<std::string> validation_predictions();
  // DistributedError unless every rank holds the same trainable weights.
  void check_ranks_agree();

  FineTuningMethod& method_;
  const TextTokenizer& tokenizer_;
  TaskSpec task_;
  TrainData data_;
  TrainOptions options_;
  std::string run_dir_;
  torch::Device device_;
  AdamW optimizer_;
  TrainingState state_;
  nlohmann::json evaluations_ = nlohmann::json::array();
  int64_t max_new_tokens_ = 0;
  std::unique_ptr<BackboneStateCache> cache_;
  int64_t cache_hits_ = 0, cache_misses_ = 0;  // examples, this log interval
  std::ostream* log_ = nullptr;
  dist::ProcessGroup* group_ = nullptr;
  std::unique_ptr<dist::GradientReducer> reducer_;
  int stop_agreed_ = 0;  // a stop signal some rank received, agreed on at the last update
};

}  // namespace ladder::train
