#pragma once
// What a run trains on: a GLUE task (SPEC-LST §7 splits) or a custom data set, resolved to
// train/validation/test splits, scored with the task's metric, and the text-to-text input
// format that `ladder predict` applies to raw texts.
//
// Custom data (--task custom):
//   --data DIR   DIR/train.<ext>, DIR/validation.<ext> (or dev.<ext>) and, optionally,
//                DIR/test.<ext>; <ext> is jsonl, json, csv or tsv.
//   --data FILE  the training file; validation = a seeded sample (split_seed) of
//                max(1, min(1000, n/10)) rows held out of it, the rest (file order) trains;
//                there is no test split.
//   Classification (label field) is scored by macro F1 (evaluate_classification); the label set
//   is the training file's and is recorded in run.json. Seq2seq (source/target fields) is
//   scored by exact match.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/data/custom.h"
#include "ladder/data/example.h"

namespace ladder::train {

struct TaskSpec {
  std::string task = "rte";  // a GLUE task name or "custom"
  std::string data;          // GLUE data directory, or the custom file/directory
  // custom only
  std::string kind = "classification";  // classification | seq2seq
  data::ClassificationFields classification;  // known_labels: the recorded label set
  data::Seq2SeqFields seq2seq;
  uint64_t split_seed = 42;
  // Small-data runs and tests: keep only the first N examples of a split (0 = all).
  int64_t max_train_examples = 0, max_eval_examples = 0;
  // GLUE sst2/qnli/qqp: training rows carved out as validation (the paper: 1,000).
  int64_t large_task_validation_size = 1000;
  // GLUE stsb: targets rounded to this step, 0.1 (the authors' round_stsb_target) or 0.2 (T5's).
  double stsb_step = 0.1;

  bool is_glue() const;
  nlohmann::json to_json() const;
  static TaskSpec from_json(const nlohmann::json& json, const std::string& source);
};

// split: train | validation | test. Custom classification splits other than train are
// read with the recorded label set (a row with another label is malformed).
data::Dataset load_split(const TaskSpec& task, const std::string& split, const data::LoadOptions& options = {});

// The valid target strings (GLUE task labels, the custom label set); empty for stsb and
// seq2seq.
std::vector<std::string> task_labels(const TaskSpec& task);

// {"score": ...} plus the task's own metrics (see task_data.h's header comment).
std::map<std::string, double> score_predictions(const TaskSpec& task, const std::vector<std::string>& predictions,
                                                const std::vector<std::string>& references);

// The model input for a raw text in `ladder predict`:
//   - a text that already starts with the task prefix ("rte sentence1: ..." for GLUE, the
//     custom prefix) is used as given;
//   - otherwise a tab separates the two texts of a pair task: "A\tB" -> "rte sentence1: A
//     sentence2: B"; a single-text task takes the whole line ("sst2 sentence: TEXT");
//   - a pair task given a line without a tab is a UsageError.
// Custom seq2seq texts get "[prefix ]TEXT".
std::string format_input(const TaskSpec& task, const std::string& text);

}  // namespace ladder::train
