#include <filesystem>

#include "task_options.h"

#include "ladder/data/glue.h"
#include "ladder/error.h"
#include "validators.h"

namespace ladder::cli {
namespace fs = std::filesystem;

void add_task_options(CLI::App* app, TaskOptions& o) {
  app->add_option("--task", o.task,
                  "GLUE task (cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli), custom, completion (custom "
                  "prompt/completion pairs), chat (JSONL of {\"messages\": [...]} or Alpaca's {\"instruction\", "
                  "\"input\", \"output\"}, rendered with the model's chat template), text (plain text for a "
                  "decoder-only model), or vision-language: "
                  "vqa, gqa, nlvr, caption, or several joined by commas (multi-task)");
  app->add_option("--features", o.features,
                  "vision-language: image features, a folder of {image_id}.h5 files or one .safetensors file");
  app->add_option("--visual-tokens", o.visual_tokens,
                  "vision-language: tokens per image; a square below the stored grid pools it (36: the authors' "
                  "--downsample of 7x7 CLIP grids); 0: as stored")
      ->capture_default_str()
      ->check(whole_number(0, 4096));
  app->add_option("--feature-norm", o.feature_norm,
                  "vision-language: standardize (each feature dimension by the training images' mean and "
                  "deviation, saved with the method) or none (as stored, the authors')")
      ->capture_default_str()
      ->check(CLI::IsMember({"standardize", "none"}));
  app->add_option("--answer-targets", o.answer_targets,
                  "vqa/gqa training targets: sample (drawn from the label scores each epoch, the authors') or top")
      ->capture_default_str()
      ->check(CLI::IsMember({"sample", "top"}));
  app->add_flag("--skip-malformed", o.skip_malformed,
                "vision-language: drop malformed rows (reported) instead of stopping, e.g. LXMERT's VQA rows "
                "with an empty label");
  app->add_option("--data", o.data,
                  "GLUE: the glue folder or the task's folder; custom: a data file (validation held out) or a "
                  "folder with train/validation(/test) .jsonl/.csv/.tsv files");
  app->add_option("--text-field", o.text_field, "custom classification and --task text: text field")->capture_default_str();
  app->add_option("--text-pair-field", o.text_pair_field, "custom classification: second text field (pair tasks)");
  app->add_option("--label-field", o.label_field, "custom classification: label field")->capture_default_str();
  app->add_option("--source-field", o.source_field, "custom seq2seq: source field (--task completion: prompt)");
  app->add_option("--target-field", o.target_field, "custom seq2seq: target field (--task completion: completion)");
  app->add_option("--prefix", o.prefix, "custom: task prefix put before the input text");
  app->add_option("--chat-template", o.chat_template,
                  "--task chat: a Jinja chat template file, or a model folder whose template to use (default: "
                  "the model's chat_template.jinja or tokenizer_config.json's chat_template)");
  app->add_option("--split-seed", o.split_seed, "seed of the validation/test splits (the paper: 42)")->capture_default_str();
  app->add_option("--max-train-examples", o.max_train_examples, "use only the first N training examples (0: all)")
      ->check(whole_number(0, kMaxCount));
  app->add_option("--max-eval-examples", o.max_eval_examples, "use only the first N validation/test examples (0: all)")
      ->check(whole_number(0, kMaxCount));
  app->add_option("--validation-size", o.validation_size,
                  "sst2/qnli/qqp: training rows held out as validation (the paper: 1000)")
      ->capture_default_str()
      ->check(whole_number(1, kMaxCount));
  app->add_option("--stsb-step", o.stsb_step, "stsb: round targets to 0.1 (the authors' code) or 0.2 (T5's paper)")
      ->capture_default_str()
      ->check(CLI::IsMember({0.1, 0.2}));
}

void add_eos_token_option(CLI::App* app, std::string& eos_token) {
  app->add_option("--eos-token", eos_token,
                  "decoder-only models: the token that ends an answer, e.g. <|im_end|> for ChatML chat data: appended "
                  "to training targets and ending generation (default: config.json's eos_token_id)");
  // Users coming from transformers set a pad token because its batching needs one; ladder's
  // does not, and a flag that changed nothing would mislead: say so instead.
  app->add_option_function<std::string>(
      "--pad-token",
      [](const std::string&) {
        throw UsageError("--pad-token: ladder masks padding everywhere, so no pad token is needed (a model without one "
                         "pads with its eos id, which nothing reads): leave the option out");
      },
      "not needed: ladder masks padding (the option says so and stops)");
}

void add_length_options(CLI::App* app, int64_t& max_source_length, int64_t& max_target_length) {
  app->add_option("--max-source-length", max_source_length, "input ids per example, </s> included")
      ->capture_default_str()
      ->check(whole_number(2, int64_t{1} << 20));
  app->add_option("--max-target-length", max_target_length, "target ids per example, </s> included")
      ->capture_default_str()
      ->check(whole_number(2, int64_t{1} << 20));
}

train::TaskSpec make_task_spec(const CLI::App& app, const TaskOptions& o, const std::string& model_dir) {
  if (o.task.empty()) throw UsageError("--task is required (a GLUE task name or custom)");
  if (o.data.empty()) throw UsageError("--data is required (the GLUE folder or your data file/folder)");
  train::TaskSpec spec;
  spec.task = o.task;
  spec.data = o.data;
  spec.split_seed = o.split_seed;
  spec.max_train_examples = o.max_train_examples;
  spec.max_eval_examples = o.max_eval_examples;
  spec.large_task_validation_size = o.validation_size;
  spec.stsb_step = o.stsb_step;
  if (spec.is_vl() || o.task.find(',') != std::string::npos) {
    spec.vl_tasks();  // an unknown or empty entry, a task named twice
    if (o.features.empty())
      throw UsageError("--task " + o.task + " reads image features: give --features (a folder of {image_id}.h5 files "
                       "or one .safetensors file)");
    spec.features = fs::absolute(o.features).lexically_normal().string();
    spec.visual_tokens = o.visual_tokens;
    spec.feature_norm = o.feature_norm;
    spec.answer_targets = o.answer_targets;
    spec.skip_malformed = o.skip_malformed;
    return spec;
  }
  for (const char* vl_only : {"--features", "--visual-tokens", "--feature-norm", "--answer-targets", "--skip-malformed"})
    if (app.count(vl_only) > 0)
      throw UsageError(std::string(vl_only) + " goes with a vision-language task (vqa, gqa, nlvr, caption)");
  const bool seq2seq = app.count("--source-field") > 0 || app.count("--target-field") > 0;
  const bool classification = app.count("--text-field") > 0 || app.count("--text-pair-field") > 0 ||
                              app.count("--label-field") > 0;
  if (o.task != "chat" && app.count("--chat-template") > 0) throw UsageError("--chat-template goes with --task chat");
  if (o.task == "completion") {  // custom seq2seq under the names decoder-only data sets use
    if (classification) throw UsageError("--task completion reads --source-field/--target-field (prompt, completion)");
    spec.task = "custom";
    spec.kind = "seq2seq";
    spec.seq2seq.source_field = o.source_field.empty() ? "prompt" : o.source_field;
    spec.seq2seq.target_field = o.target_field.empty() ? "completion" : o.target_field;
    spec.seq2seq.prefix = o.prefix;
    return spec;
  }
  if (o.task == "chat") {
    if (seq2seq || classification || app.count("--prefix"))
      throw UsageError("--task chat reads each row's messages (or instruction, input, output): the field flags and "
                       "--prefix do not apply");
    spec.task = "custom";
    spec.kind = "chat";
    train::set_chat_template(spec, o.chat_template, model_dir);
    return spec;
  }
  if (o.task == "text") {
    if (seq2seq || app.count("--text-pair-field") || app.count("--label-field") || app.count("--prefix"))
      throw UsageError("--task text reads one field, --text-field (.txt files: one text per line)");
    spec.task = "custom";
    spec.kind = "text";
    spec.text_field = o.text_field;
    return spec;
  }
  if (o.task != "custom") {
    if (!data::is_glue_task(o.task)) {
      std::string glue;
      for (const auto& t : data::glue_tasks()) glue += (glue.empty() ? "" : ", ") + t.name;
      throw UsageError("--task: unknown task '" + o.task + "' (GLUE: " + glue +
                       "; your data: custom, completion, chat, text; images: vqa, gqa, nlvr, caption, or several "
                       "joined by commas)");
    }
    if (seq2seq || classification || app.count("--prefix") > 0)
      throw UsageError("--text-field, --label-field, --source-field, --target-field and --prefix go with --task custom "
                       "(GLUE tasks have fixed formats)");
    return spec;
  }
  if (seq2seq && classification)
    throw UsageError("custom task: use --source-field/--target-field (seq2seq) or --text-field/--label-field "
                     "(classification), not both");
  if (seq2seq) {
    if (o.source_field.empty() || o.target_field.empty())
      throw UsageError("custom seq2seq task: give both --source-field and --target-field");
    spec.kind = "seq2seq";
    spec.seq2seq.source_field = o.source_field;
    spec.seq2seq.target_field = o.target_field;
    spec.seq2seq.prefix = o.prefix;
  } else {
    spec.kind = "classification";
    spec.classification.text_field = o.text_field;
    spec.classification.text_pair_field = o.text_pair_field;
    spec.classification.label_field = o.label_field;
    spec.classification.prefix = o.prefix;
  }
  return spec;
}

}  // namespace ladder::cli
