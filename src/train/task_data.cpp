#include "ladder/train/task_data.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "ladder/data/chat.h"
#include "ladder/data/glue.h"
#include "ladder/data/metrics.h"
#include "ladder/data/shuffle.h"
#include "ladder/data/table.h"
#include "ladder/error.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

const char* const kExtensions[] = {".jsonl", ".json", ".csv", ".tsv", ".txt"};

// DIR/<stem>.<ext> for the first stem and extension that exists, or "".
std::string find_split_file(const fs::path& dir, const std::vector<std::string>& stems) {
  for (const auto& stem : stems)
    for (const char* ext : kExtensions) {
      fs::path candidate = dir / (stem + ext);
      if (fs::is_regular_file(candidate)) return candidate.string();
    }
  return "";
}

data::Dataset load_custom_file(const TaskSpec& task, const std::string& path, const data::LoadOptions& options) {
  if (task.kind == "seq2seq") return data::load_custom_seq2seq(path, task.seq2seq, "custom", options);
  if (task.kind == "text") return data::load_custom_text(path, task.text_field, "custom", options);
  if (task.kind == "chat") {
    const ChatTemplate chat_template(task.chat_template, task.chat_template_origin);
    return data::load_custom_chat(path, {&chat_template, task.chat_eos_token}, "custom", options);
  }
  return data::load_custom_classification(path, task.classification, "custom", options);
}

// A data set restricted to `indices` (ascending: file order is kept).
data::Dataset subset(const data::Dataset& all, std::vector<std::size_t> indices) {
  std::sort(indices.begin(), indices.end());
  data::Dataset out = all;
  out.examples.clear();
  for (std::size_t i : indices) out.examples.push_back(all.examples[i]);
  return out;
}

data::Dataset load_custom_split(const TaskSpec& task, const std::string& split, const data::LoadOptions& options) {
  if (fs::is_directory(task.data)) {
    std::vector<std::string> stems = split == "train" ? std::vector<std::string>{"train"}
                                     : split == "validation" ? std::vector<std::string>{"validation", "dev"}
                                                             : std::vector<std::string>{"test"};
    std::string path = find_split_file(task.data, stems);
    if (path.empty())
      throw UsageError(task.data + ": no " + split + " file (expected " + stems.front() +
                       ".jsonl, .json, .csv, .tsv or .txt" + (split == "validation" ? ", or dev.*" : "") + ")");
    return load_custom_file(task, path, options);
  }
  if (split == "test")
    throw UsageError(task.data + ": a single custom data file has no test split (use a directory with train.*, "
                     "validation.* and test.* files)");
  data::Dataset all = load_custom_file(task, task.data, options);
  const std::size_t n = all.examples.size();
  if (n < 2) throw UsageError(task.data + ": needs at least 2 examples to hold out a validation split");
  const std::size_t held = std::max<std::size_t>(1, std::min<std::size_t>(1000, n / 10));
  std::vector<std::size_t> order = data::shuffled_indices(n, task.split_seed);
  if (split == "validation") return subset(all, {order.begin(), order.begin() + held});
  return subset(all, {order.begin() + held, order.end()});
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return !prefix.empty() && text.compare(0, prefix.size(), prefix) == 0;
}

std::string with_prefix(const std::string& prefix, const std::string& text) {
  return prefix.empty() ? text : prefix + " " + text;
}

// A GLUE split as prompts continued by label words (task_data.h).
void as_prompts(const std::string& task, data::Dataset& dataset) {
  const std::vector<std::string> words = glue_label_words(task);
  for (auto& example : dataset.examples) {
    example.source += kGluePromptCue;
    for (std::size_t l = 0; l < dataset.labels.size() && l < words.size(); ++l)
      if (example.target == dataset.labels[l]) example.target = words[l];
  }
  if (!words.empty()) dataset.labels = words;
}

std::string trimmed(const std::string& text) {
  const std::size_t begin = text.find_first_not_of(" \t\r\n");
  return begin == std::string::npos ? "" : text.substr(begin, text.find_last_not_of(" \t\r\n") + 1 - begin);
}

// A decoder-only model's GLUE completion back to the task's label string; anything but a label
// word stays as it is (and scores as wrong).
std::string label_of_word(const std::string& task, const std::string& completion) {
  const std::string word = trimmed(completion);
  const std::vector<std::string> words = glue_label_words(task);
  const std::vector<std::string>& labels = data::glue_task(task).labels;
  for (std::size_t l = 0; l < words.size() && l < labels.size(); ++l)
    if (word == words[l]) return labels[l];
  return completion;
}

}  // namespace

std::vector<std::string> glue_label_words(const std::string& task) {
  const std::string& name = data::glue_task(task).name;
  if (name == "cola") return {"unacceptable", "acceptable"};
  if (name == "sst2") return {"negative", "positive"};
  if (name == "mrpc") return {"not_equivalent", "equivalent"};
  if (name == "qqp") return {"not_duplicate", "duplicate"};
  if (name == "mnli") return {"entailment", "neutral", "contradiction"};
  if (name == "qnli" || name == "rte") return {"entailment", "not_entailment"};
  if (name == "wnli") return {"not_entailment", "entailment"};
  return {};  // stsb: the number is its own word
}

bool TaskSpec::is_glue() const { return task != "custom" && !is_vl(); }

nlohmann::json TaskSpec::to_json() const {
  nlohmann::json json = {{"task", task},
                         {"data", data},
                         {"split_seed", split_seed},
                         {"max_train_examples", max_train_examples},
                         {"max_eval_examples", max_eval_examples},
                         {"large_task_validation_size", large_task_validation_size},
                         {"stsb_step", stsb_step},
                         {"decoder_only", decoder_only}};
  if (is_vl()) {
    json["features"] = features;
    json["visual_tokens"] = visual_tokens;
    json["feature_norm"] = feature_norm;
    json["answer_targets"] = answer_targets;
    json["skip_malformed"] = skip_malformed;
  } else if (!is_glue()) {
    json["kind"] = kind;
    if (kind == "seq2seq") {
      json["source_field"] = seq2seq.source_field;
      json["target_field"] = seq2seq.target_field;
      json["prefix"] = seq2seq.prefix;
    } else if (kind == "text") {
      json["text_field"] = text_field;
    } else if (kind == "chat") {
      json["chat_template"] = chat_template;
      json["chat_template_origin"] = chat_template_origin;
      json["eos_token"] = chat_eos_token;
    } else {
      json["text_field"] = classification.text_field;
      json["text_pair_field"] = classification.text_pair_field;
      json["label_field"] = classification.label_field;
      json["prefix"] = classification.prefix;
      json["labels"] = classification.known_labels;
    }
  }
  return json;
}

TaskSpec TaskSpec::from_json(const nlohmann::json& json, const std::string& source) {
  TaskSpec t;
  try {
    t.task = json.at("task").get<std::string>();
    t.data = json.at("data").get<std::string>();
    t.split_seed = json.value("split_seed", t.split_seed);
    t.max_train_examples = json.value("max_train_examples", int64_t{0});
    t.max_eval_examples = json.value("max_eval_examples", int64_t{0});
    t.large_task_validation_size = json.value("large_task_validation_size", t.large_task_validation_size);
    // Runs recorded before the option existed used T5's 0.2.
    t.stsb_step = json.value("stsb_step", 0.2);
    t.decoder_only = json.value("decoder_only", false);
    if (t.is_vl()) {
      t.features = json.at("features").get<std::string>();
      t.visual_tokens = json.value("visual_tokens", int64_t{0});
      // Runs recorded before the option existed read the features as stored.
      t.feature_norm = json.value("feature_norm", std::string("none"));
      if (t.feature_norm != "standardize" && t.feature_norm != "none")
        throw FormatError(source + ": feature_norm must be standardize or none, found \"" + t.feature_norm + "\"");
      t.answer_targets = json.value("answer_targets", t.answer_targets);
      t.skip_malformed = json.value("skip_malformed", false);
    } else if (!t.is_glue()) {
      t.kind = json.at("kind").get<std::string>();
      if (t.kind == "seq2seq") {
        t.seq2seq.source_field = json.at("source_field").get<std::string>();
        t.seq2seq.target_field = json.at("target_field").get<std::string>();
        t.seq2seq.prefix = json.value("prefix", "");
      } else if (t.kind == "text") {
        t.text_field = json.at("text_field").get<std::string>();
      } else if (t.kind == "chat") {
        t.chat_template = json.at("chat_template").get<std::string>();
        t.chat_template_origin = json.value("chat_template_origin", source + ": chat_template");
        t.chat_eos_token = json.value("eos_token", "");
        ChatTemplate(t.chat_template, t.chat_template_origin);  // FormatError now, not at the first prompt
      } else {
        t.classification.text_field = json.at("text_field").get<std::string>();
        t.classification.text_pair_field = json.value("text_pair_field", "");
        t.classification.label_field = json.at("label_field").get<std::string>();
        t.classification.prefix = json.value("prefix", "");
        t.classification.known_labels = json.value("labels", std::vector<std::string>{});
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": bad task description (" + std::string(e.what()) + ")");
  }
  if (t.is_vl()) t.vl_tasks();  // UsageError for an unknown or repeated task
  else if (t.is_glue()) data::glue_task(t.task);  // UsageError for an unknown task
  else if (t.kind != "classification" && t.kind != "seq2seq" && t.kind != "text" && t.kind != "chat")
    throw FormatError(source + ": " + expected_found("task kind", "classification, seq2seq, text or chat", "\"" + t.kind + "\""));
  return t;
}

data::Dataset load_split(const TaskSpec& task, const std::string& split, const data::LoadOptions& options) {
  if (split != "train" && split != "validation" && split != "test")
    throw UsageError(expected_found("split", "train, validation or test", "\"" + split + "\""));
  data::Dataset dataset;
  if (task.is_glue()) {
    data::LoadOptions glue_options = options;
    glue_options.large_task_validation_size = static_cast<std::size_t>(task.large_task_validation_size);
    glue_options.stsb_step = task.stsb_step;
    dataset = data::load_glue(task.task, task.data, split, task.split_seed, glue_options);
    if (task.decoder_only) as_prompts(task.task, dataset);
  } else if (task.is_vl()) {
    return load_vl_dataset(task, split, options);  // limits apply per task
  } else {
    dataset = load_custom_split(task, split, options);
  }
  const int64_t limit = split == "train" ? task.max_train_examples : task.max_eval_examples;
  if (limit > 0 && static_cast<int64_t>(dataset.examples.size()) > limit) dataset.examples.resize(static_cast<std::size_t>(limit));
  if (dataset.examples.empty()) throw UsageError(task.data + ": the " + split + " split of " + task.task + " is empty");
  return dataset;
}

std::vector<std::string> task_labels(const TaskSpec& task) {
  if (task.is_glue()) return task.decoder_only ? glue_label_words(task.task) : data::glue_task(task.task).labels;
  if (task.is_vl()) return {};  // free generation (answers, captions)
  if (task.kind == "seq2seq" || task.kind == "text" || task.kind == "chat") return {};
  return task.classification.known_labels;
}

namespace {

std::map<std::string, double> task_metrics(const TaskSpec& task, const std::vector<std::string>& predictions,
                                           const std::vector<std::string>& references) {
  if (task.is_glue() && task.decoder_only) {
    std::vector<std::string> labels, reference_labels;
    for (const auto& p : predictions) labels.push_back(label_of_word(task.task, p));
    for (const auto& r : references) reference_labels.push_back(label_of_word(task.task, r));
    return data::evaluate_task(task.task, labels, reference_labels);
  }
  if (task.is_glue()) return data::evaluate_task(task.task, predictions, references);  // strips both itself
  if (task.scored_by_loss())
    throw Error("internal: a plain-text task is scored by its loss (evaluate_loss), not by generated texts");
  // Custom references were trimmed when loaded (data/custom.h); predictions are trimmed alike.
  std::vector<std::string> cleaned;
  cleaned.reserve(predictions.size());
  for (const std::string& p : predictions) cleaned.push_back(trimmed(p));
  if (task.kind == "classification")
    return data::evaluate_classification(cleaned, references, task.classification.known_labels);
  const double exact = data::accuracy(cleaned, references);
  return {{"exact_match", exact}, {"score", exact}};
}

}  // namespace

std::string glue_prediction_label(const TaskSpec& task, const std::string& prediction) {
  const std::string target = task.decoder_only ? label_of_word(task.task, prediction) : prediction;
  return data::glue_data_label(task.task, trimmed(target));
}

std::map<std::string, double> score_predictions(const TaskSpec& task, const std::vector<std::string>& predictions,
                                                const std::vector<std::string>& references) {
  std::map<std::string, double> metrics = task_metrics(task, predictions, references);
  // A classifier that scores 0 (or exactly a class's share) usually answers no label at all, or
  // one label always: the share of each predicted label and of invalid predictions says which.
  const std::vector<std::string> labels = task_labels(task);
  if (labels.empty() || predictions.empty()) return metrics;
  std::map<std::string, double> shares;
  for (const auto& label : labels) shares[label] = 0;
  double invalid = 0;
  for (const std::string& p : predictions) {
    auto it = shares.find(trimmed(p));
    (it == shares.end() ? invalid : it->second) += 1;
  }
  const double n = static_cast<double>(predictions.size());
  for (const auto& [label, count] : shares) metrics[kPredictedSharePrefix + label] = count / n;
  metrics[kInvalidShareKey] = invalid / n;
  return metrics;
}

std::string format_input(const TaskSpec& task, const std::string& text) {
  const std::size_t tab = text.find('\t');
  if (task.is_vl()) return format_vl_input(task, text);
  if (task.is_glue() && task.decoder_only) {
    TaskSpec text_to_text = task;
    text_to_text.decoder_only = false;
    const std::string source = format_input(text_to_text, text);
    const std::string cue = kGluePromptCue;
    const bool cued = source.size() >= cue.size() && source.compare(source.size() - cue.size(), cue.size(), cue) == 0;
    return cued ? source : source + cue;
  }
  if (task.is_glue()) {
    if (starts_with(text, task.task + " ")) return text;
    const bool single = task.task == "cola" || task.task == "sst2";
    if (single) return data::glue_source(task.task, text);
    if (tab == std::string::npos)
      throw UsageError("\"" + text + "\": " + task.task + " takes a pair of texts: separate them with a tab");
    return data::glue_source(task.task, text.substr(0, tab), text.substr(tab + 1));
  }
  if (task.kind == "text") return text;  // a beginning to continue
  if (task.kind == "chat") {
    const ChatTemplate chat_template(task.chat_template, task.chat_template_origin);
    return data::chat_prompt({&chat_template, task.chat_eos_token}, text);
  }
  if (task.kind == "seq2seq") {
    if (starts_with(text, task.seq2seq.prefix + " ")) return text;
    return with_prefix(task.seq2seq.prefix, text);
  }
  const auto& f = task.classification;
  if (starts_with(text, f.prefix + " ")) return text;
  if (f.prefix.empty() && !f.text_pair_field.empty() && starts_with(text, f.text_field + ": ")) return text;
  if (f.text_pair_field.empty()) return with_prefix(f.prefix, text);
  if (tab == std::string::npos)
    throw UsageError("\"" + text + "\": the task takes a pair (" + f.text_field + ", " + f.text_pair_field +
                     "): separate them with a tab");
  // The same layout as data/custom.h's classification sources.
  return with_prefix(f.prefix, f.text_field + ": " + text.substr(0, tab) + " " + f.text_pair_field + ": " +
                                   text.substr(tab + 1));
}

namespace {

// tokenizer_config.json's eos_token: a string, or an added token {"content": ...}; "" without one.
std::string eos_text_of(const std::string& model_dir) {
  const fs::path config = fs::path(model_dir) / "tokenizer_config.json";
  if (model_dir.empty() || !fs::is_regular_file(config)) return "";
  const nlohmann::json json = nlohmann::json::parse(data::read_text_file(config.string(), "tokenizer config"), nullptr, false);
  if (json.is_discarded() || !json.is_object()) throw FormatError(config.string() + ": not a JSON object");
  const auto it = json.find("eos_token");
  if (it == json.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return "";
}

}  // namespace

void set_chat_template(TaskSpec& task, const std::string& source, const std::string& model_dir) {
  const std::string from = source.empty() ? model_dir : source;
  std::optional<ChatTemplate> found;
  std::string text;
  if (!from.empty() && fs::is_directory(from)) {
    found = load_chat_template(from);
    if (found) text = found->source();
  } else if (!from.empty()) {
    text = data::read_text_file(from, "chat template");
    found.emplace(text, from);
  }
  if (!found)
    throw UsageError((from.empty() ? std::string("--task chat") : from + ": no chat template") +
                     ": give --chat-template FILE.jinja, or a model folder with chat_template.jinja or "
                     "tokenizer_config.json's chat_template");
  task.chat_template = text;
  task.chat_template_origin = found->origin();
  task.chat_eos_token = eos_text_of(model_dir.empty() && fs::is_directory(from) ? from : model_dir);
}

}  // namespace ladder::train
