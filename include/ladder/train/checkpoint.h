#pragma once
// Run-state checkpoints (Marian's lesson: the training state lives apart from the weights and
// a resumed run continues mid-epoch). A checkpoint directory holds
//   adapter_config.json + adapter_model.safetensors   save_method(): the trainable weights
//   training_state.json                               counters, data position, seeds, best score
//   optimizer.safetensors                             AdamW moments exp_avg.<p> / exp_avg_sq.<p>
//                                                     (last/ only: best/ is for inference)
// Checkpoints are written into a sibling temporary directory and swapped in by renames, so a
// crash never leaves a half-written checkpoint in place of a good one.
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "ladder/io/json_file.h"

#include "ladder/methods/method.h"
#include "ladder/train/optimizer.h"

namespace ladder::train {

struct TrainingState {
  int64_t global_step = 0;   // optimizer updates done (= the schedule's step)
  int64_t total_steps = 0;
  int64_t epoch = 0;         // epoch of the next micro-batch (0-based)
  int64_t batch_in_epoch = 0;  // micro-batches of that epoch already consumed
  int64_t examples_seen = 0;
  uint64_t seed = 0;         // initialisation seed (MethodOptions.seed); dropout: mix_seed(seed, step)
  uint64_t data_seed = 0;    // data order
  // "fisher" once LST's Fisher initialisation ran, so a resumed run does not redo it (the
  // initialised weights are in the checkpoint anyway).
  std::string side_init_done;
  double best_score = -std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  bool finished = false;
  // Every evaluation up to global_step (metrics.json's "evaluations"): committed with the
  // checkpoint, so a kill at any instant loses none and a resume keeps the same best.
  nlohmann::json evaluations = nlohmann::json::array();
  // The open logging interval (updates since the last progress line), so the lines after a
  // resume equal an uninterrupted run's.
  double interval_loss_sum = 0;
  int64_t interval_updates = 0, interval_tokens = 0;
  // The first update's loss: the reference for divergence.
  double first_loss = 0;

  nlohmann::json to_json() const;
  static TrainingState from_json(const nlohmann::json& json, const std::string& source);
};

// Writes `dir` (replacing an existing one only once the new one is complete). `optimizer`
// may be null (best/).
void save_checkpoint(const std::string& dir, FineTuningMethod& method, const TrainingState& state,
                     const AdamW* optimizer);

// The directory a checkpoint should be read from: `dir`, or the previous copy that a crash in
// the middle of a swap left at `dir`.old. Throws LoadError when neither exists.
std::string checkpoint_path(const std::string& dir);
TrainingState load_training_state(const std::string& dir);
void load_optimizer(const std::string& dir, AdamW& optimizer);

// Moves the complete directory `staged` to `target`: target -> target.old, staged -> target,
// then target.old is removed. Both renames are atomic; between them checkpoint_path() finds
// the old copy.
void replace_directory(const std::string& staged, const std::string& target);
// A fresh empty directory next to `target` for staging (target.tmp-<pid>-<n>).
std::string staging_directory(const std::string& target);


}  // namespace ladder::train
