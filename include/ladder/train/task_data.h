#pragma once
// What a run trains on: a GLUE task (docs/lst-design.md §7 splits) or a custom data set,
// resolved to train/validation/test splits, scored with the task's metric, and the text-to-text
// input format that `ladder predict` applies to raw texts.
//
// Custom data (--task custom):
//   --data DIR   DIR/train.<ext>, DIR/validation.<ext> (or dev.<ext>) and, optionally,
//                DIR/test.<ext>; <ext> is jsonl, json, csv or tsv.
//   --data FILE  the training file; validation = a seeded sample (split_seed) of
//                max(1, min(1000, n/10)) rows held out of it, the rest (file order) trains;
//                there is no test split.
//   Classification (label field) is scored by macro F1 (evaluate_classification); the label set
//   is the training file's and is recorded in run.json. Seq2seq (source/target fields; for a
//   decoder-only model prompt/completion) is scored by exact match. Text (kind "text", a
//   decoder-only model learning every token of plain text: .txt lines or a text field) is
//   scored by the validation loss (score = -loss).
//
// Decoder-only models (decoder_only) read a GLUE example as a prompt, its T5 source followed by
// kGluePromptCue, continued by its label's word (sst2: negative/positive, T5's words; stsb its
// number); predictions are mapped back to the labels before they are scored.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/tokenizer/chat_template.h"

#include "ladder/data/custom.h"
#include "ladder/data/example.h"

namespace ladder::train {

struct TaskSpec {
  std::string task = "rte";  // a GLUE task name or "custom"
  std::string data;          // GLUE data directory, or the custom file/directory
  // custom only
  std::string kind = "classification";  // classification | seq2seq | text | chat
  std::string text_field = "text";       // kind text: the field of .jsonl/.csv/.tsv files
  // kind chat (data/chat.h): the chat template's source, recorded in run.json so that the run's
  // prompts are rendered alike wherever it is evaluated; where it came from; the model's eos text.
  std::string chat_template, chat_template_origin, chat_eos_token;
  data::ClassificationFields classification;  // known_labels: the recorded label set
  data::Seq2SeqFields seq2seq;
  uint64_t split_seed = 42;
  // Small-data runs and tests: keep only the first N examples of a split (0 = all).
  int64_t max_train_examples = 0, max_eval_examples = 0;
  // GLUE sst2/qnli/qqp: training rows carved out as validation (the paper: 1,000).
  int64_t large_task_validation_size = 1000;
  // GLUE stsb: targets rounded to this step, 0.1 (the authors' round_stsb_target) or 0.2 (T5's).
  double stsb_step = 0.1;
  // Vision-language tasks (task = vqa, gqa, nlvr, caption, or several joined by commas for the
  // authors' multi-task run): data is the task's folder, or a folder holding one folder per
  // task (vqa/, gqa/, nlvr/, caption/); features the image features (a folder of .h5 files or
  // one .safetensors file, data/vl/features.h).
  std::string features;
  // Visual tokens per image: 0 = as stored; a smaller square (36 of a 7x7 grid's 49) pools
  // the grid as the authors' --downsample.
  int64_t visual_tokens = 0;
  // "standardize": the visual embedding reads each feature dimension standardised with the
  // mean and deviation of the training images (saved with the method); "none": as stored
  // (the authors').
  std::string feature_norm = "standardize";
  // VQA/GQA training targets: "sample" draws each epoch's answer from the label scores (the
  // authors'); "top" always trains on the highest-scored one (what a backbone-state cache needs).
  std::string answer_targets = "sample";
  // Drop malformed rows (counted, reported once) instead of stopping at the first. LXMERT's
  // VQA train files hold rows whose answers are outside the answer vocabulary (an empty label).
  bool skip_malformed = false;
  // The run's model is decoder-only (recorded in run.json): GLUE examples become prompts with
  // label words.
  bool decoder_only = false;

  bool is_glue() const;
  bool scored_by_loss() const { return !is_glue() && !is_vl() && kind == "text"; }
  bool is_vl() const;
  std::vector<std::string> vl_tasks() const;  // the tasks of a vision-language run, in order
  nlohmann::json to_json() const;
  static TaskSpec from_json(const nlohmann::json& json, const std::string& source);
};

// split: train | validation | test. Custom classification splits other than train are
// read with the recorded label set (a row with another label is malformed).
data::Dataset load_split(const TaskSpec& task, const std::string& split, const data::LoadOptions& options = {});

inline constexpr const char* kGluePromptCue = "\nlabel:";
// A GLUE task's label words for decoder-only models, in the order of its labels; empty for stsb.
std::vector<std::string> glue_label_words(const std::string& task);

// The valid target strings (GLUE task labels, or their words for a decoder-only model; the
// custom label set); empty for stsb, seq2seq and text.
std::vector<std::string> task_labels(const TaskSpec& task);

// A GLUE classification prediction as the task's data writes its label (data::glue_data_label;
// a decoder-only model's label word first becomes its target); "" when it is no label.
std::string glue_prediction_label(const TaskSpec& task, const std::string& prediction);

// Keys score_predictions adds for classification tasks: the share of predictions that are
// each label ("predicted_share/<label>") and that are no label at all.
inline constexpr const char* kPredictedSharePrefix = "predicted_share/";
inline constexpr const char* kInvalidShareKey = "invalid_share";

// {"score": ...} plus the task's own metrics (see task_data.h's header comment); for a
// classification task also the shares above.
std::map<std::string, double> score_predictions(const TaskSpec& task, const std::vector<std::string>& predictions,
                                                const std::vector<std::string>& references);
// A vision-language split: every task of the run (limits per task), examples carrying their
// images, answers and references; the source already has the task prompt.
data::Dataset load_vl_dataset(const TaskSpec& task, const std::string& split, const data::LoadOptions& options);
// `ladder predict` on a vision-language run: a text that starts with one of the run's task
// prompts is used as given; a single-task run prefixes its prompt; a multi-task run needs it.
std::string format_vl_input(const TaskSpec& task, const std::string& text);
// Vision-language scoring needs the answers and references of each example: per task
// vqa_score (VQA's soft score), gqa_accuracy, nlvr_accuracy, caption_bleu4 and caption_cider
// (CIDEr-D), and "score", the mean of the tasks' main metrics (CIDEr for captions), as the
// paper's VL average.
std::map<std::string, double> score_vl_predictions(const std::vector<std::string>& predictions,
                                                   const std::vector<data::Example>& examples);

// The model input for a raw text in `ladder predict`:
//   - a text that already starts with the task prefix ("rte sentence1: ..." for GLUE, the
//     custom prefix) is used as given;
//   - otherwise a tab separates the two texts of a pair task: "A\tB" -> "rte sentence1: A
//     sentence2: B"; a single-text task takes the whole line ("sst2 sentence: TEXT");
//   - a pair task given a line without a tab is a UsageError.
// Custom seq2seq texts get "[prefix ]TEXT".
std::string format_input(const TaskSpec& task, const std::string& text);

// A chat task's template and eos text: `source` is a .jinja file or a model folder (its
// chat_template.jinja or tokenizer_config.json), the eos text from `model_dir`'s
// tokenizer_config.json when it has one. UsageError naming both when there is no template.
void set_chat_template(TaskSpec& task, const std::string& source, const std::string& model_dir);

}  // namespace ladder::train
