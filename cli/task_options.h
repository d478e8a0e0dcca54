#pragma once
// Task and data options shared by `ladder train` and `ladder eval`.
#include <string>

#include <CLI/CLI.hpp>

#include "ladder/train/task_data.h"

namespace ladder::cli {

struct TaskOptions {
  std::string task, data;
  std::string text_field = "text", text_pair_field, label_field = "label";
  std::string source_field, target_field;  // either one given: a seq2seq custom task
  std::string prefix;
  uint64_t split_seed = 42;
  int64_t max_train_examples = 0, max_eval_examples = 0;
  int64_t validation_size = 1000;
  double stsb_step = 0.1;
  std::string features, answer_targets = "sample", feature_norm = "standardize";
  int64_t visual_tokens = 0;
  bool skip_malformed = false;
  std::string chat_template;  // --task chat: a .jinja file or a model folder; default: the model's
};

void add_task_options(CLI::App* app, TaskOptions& options);
// --eos-token TEXT: the token that ends a decoder-only model's answers (train/run.h use_eos_token).
void add_eos_token_option(CLI::App* app, std::string& eos_token);
// --max-source-length / --max-target-length: token ids per training example, </s> included.
void add_length_options(CLI::App* app, int64_t& max_source_length, int64_t& max_target_length);
// Checks the combination (field options only with --task custom, both seq2seq fields) and
// builds the TaskSpec; the custom label set is left empty (inferred from the training data).
// `model_dir`: the model folder whose chat template --task chat reads when --chat-template is
// not given ("" where a command has no model).
train::TaskSpec make_task_spec(const CLI::App& app, const TaskOptions& options, const std::string& model_dir = "");

}  // namespace ladder::cli
