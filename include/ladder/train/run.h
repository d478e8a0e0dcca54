#pragma once
// A training run as the CLI sees it: run.json (everything needed to rebuild the run: model,
// tokenizer, task and data, method and settings, hyper-parameters, the label set of custom
// tasks), starting, resuming, and loading a checkpoint for evaluation and prediction.
// Flashlight's rule: what the run directory holds decides between a new run and a resumed one.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ladder/methods/method.h"
#include "ladder/tokenizer/text_tokenizer.h"
#include "ladder/train/evaluate.h"
#include "ladder/train/task_data.h"
#include "ladder/train/trainer.h"

namespace ladder::train {

struct RunConfig {
  std::string model;      // Hugging Face directory (stored absolute) or arch:NAME
  // spiece.model (T5), tokenizer.model or tokenizer.json (decoder-only); empty: the model
  // folder's.
  std::string tokenizer;
  TaskSpec task;
  std::string method = "lst";
  nlohmann::json settings = nlohmann::json::object();
  std::string precision = "fp32";  // fp32 | bf16: compute dtype (and storage unless backbone_dtype says)
  // fp32 | bf16 | int8 | nf4: storage of the frozen backbone; "" = as precision (run.json
  // files from before the option).
  std::string backbone_dtype;
  int64_t max_source_length = 128;
  int64_t max_target_length = 128;
  // --eos-token: the text that ends a decoder-only model's answers ("" = config.json's eos).
  std::string eos_token;
  TrainOptions train;

  nlohmann::json to_json() const;
  static RunConfig from_json(const nlohmann::json& json, const std::string& source);
};

struct RunContext {
  torch::Device device = torch::kCPU;
  TrainerHooks hooks;
  // A data-parallel job (trainer.h): rank 0 takes the run's lock and writes; every rank reads
  // the run directory (on a shared filesystem across machines, for --resume).
  dist::ProcessGroup* group = nullptr;
  bool writes_files() const { return !group || group->rank() == 0; }
};

// Starts a run in `run_dir` (created; it must not hold a run.json already: that is a resume).
// Fills in what was left to defaults (tokenizer path, label set, max_new_tokens, warmup) and
// records it in run.json before training.
TrainResult start_run(RunConfig config, const std::string& run_dir, const RunContext& context);
// A longer run on --resume (0: as recorded): the new length is recorded in run.json, and the
// learning-rate schedule follows it from the update the run is at.
struct RunExtension {
  int64_t max_steps = 0;
  int64_t epochs = 0;
  bool any() const { return max_steps > 0 || epochs > 0; }
};

// Continues the run in `run_dir` from last/; a finished run returns at once unless `longer`
// gives it more updates.
TrainResult resume_run(const std::string& run_dir, const RunContext& context, const RunExtension& longer = {});

RunConfig load_run_config(const std::string& run_dir);
// RUN/best or RUN/last (or the copy a crash left at .old); UsageError with a hint when the
// run has none yet (best/ appears with the first evaluation).
std::string run_checkpoint(const std::string& run_dir, const std::string& which);

// A trained method ready for decoding.
struct LoadedMethod {
  std::unique_ptr<FineTuningMethod> method;
  std::shared_ptr<TextTokenizer> tokenizer;
};
// Backbone from `model`, method and weights from `checkpoint_dir` (save_method's layout).
LoadedMethod load_trained_method(const std::string& model, const std::string& tokenizer,
                                 const std::string& checkpoint_dir, const std::string& precision,
                                 const torch::Device& device, uint64_t seed = 0,
                                 const std::string& backbone_dtype = "", const std::string& eos_token = "");

// --eos-token: `text`, one token of `tokenizer`, ends what a decoder-only model generates and
// is appended to its training targets (config.json's eos ids still end generation too).
// UsageError naming the tokenizer when `text` is not one token.
void use_eos_token(LlamaConfig& config, const TextTokenizer& tokenizer, const std::string& tokenizer_path,
                   const std::string& text);

// The method a run starts from, as `ladder train` builds it before its first update:
// settings, seed and the data-dependent initialisation (LST's Fisher on the training split,
// which then needs config.task) included. `ladder init` saves it.
struct InitialMethod {
  LoadedMethod loaded;
  std::string log;  // the initialisation's log line, "" when it needed no data
};
InitialMethod initial_method(const RunConfig& config, const torch::Device& device);
// UsageError when a trained method's visual input does not fit the features given (none
// where it was trained on some, another width, or features for a text-only method).
void check_visual_width(FineTuningMethod& method, VisualFeatures* visual, const std::string& what);

// Metrics of a split with greedy decoding, as {"split", "examples", "metrics": {...}}.
// A plain-text task is scored by its loss (evaluate_loss) instead, over texts cut to
// max_target_length tokens as in training.
nlohmann::json evaluate_split(FineTuningMethod& method, const TextTokenizer& tokenizer, const TaskSpec& task,
                              const std::string& split, int64_t max_source_length, const DecodeOptions& options,
                              int64_t max_target_length = 512);

}  // namespace ladder::train
