// The vision-language side of task_data.h: which tasks a run has, where their files are, and
// how their predictions are scored.
#include <filesystem>
#include <iostream>
#include <set>

#include "ladder/data/vl/metrics.h"
#include "ladder/data/vl/tasks.h"
#include "ladder/error.h"
#include "ladder/train/task_data.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

bool is_vl_name(const std::string& name) {
  for (const auto& known : data::vl_task_names())
    if (name == known) return true;
  return false;
}

// A task's folder: data itself when it holds the task's files (a single-task run pointed at
// its folder), else data/<task>.
std::string task_folder(const std::string& data, const std::string& task) {
  for (const auto& name : data::vl_split_files(task, "train"))
    if (fs::exists(fs::path(data) / name)) return data;
  return (fs::path(data) / task).string();
}

}  // namespace

bool TaskSpec::is_vl() const {
  for (const auto& name : split_commas(task))
    if (!is_vl_name(name)) return false;
  return true;
}

std::vector<std::string> TaskSpec::vl_tasks() const {
  std::vector<std::string> tasks = split_commas(task);
  std::set<std::string> seen;
  for (const auto& name : tasks) {
    if (!is_vl_name(name))
      throw UsageError("task \"" + task + "\": " + (name.empty() ? "an empty entry" : "\"" + name + "\"") +
                       " is not a vision-language task (vqa, gqa, nlvr, caption; several joined by commas)");
    if (!seen.insert(name).second) throw UsageError("task \"" + task + "\" names " + name + " twice");
  }
  return tasks;
}

data::Dataset load_vl_dataset(const TaskSpec& task, const std::string& split, const data::LoadOptions& options) {
  data::Dataset out;
  out.task = task.task;
  const int64_t limit = split == "train" ? task.max_train_examples : task.max_eval_examples;
  data::LoadOptions load = options;
  load.skip_malformed = load.skip_malformed || task.skip_malformed;
  for (const auto& name : task.vl_tasks()) {
    data::VlDataset loaded = data::load_vl_split(name, task_folder(task.data, name), split, load);
    if (loaded.skipped_rows > 0)
      std::cerr << "data: " << name << " " << split << ": skipped " << loaded.skipped_rows << " malformed rows\n";
    if (limit > 0 && static_cast<int64_t>(loaded.examples.size()) > limit)
      loaded.examples.resize(static_cast<std::size_t>(limit));
    if (loaded.examples.empty())
      throw UsageError(task_folder(task.data, name) + ": the " + split + " split of " + name + " is empty");
    out.skipped_rows += loaded.skipped_rows;
    for (std::size_t i = 0; i < loaded.examples.size(); ++i) {
      data::VlExample& vl = loaded.examples[i];
      data::Example e;
      e.source = std::move(vl.source);
      e.target = std::move(vl.target);
      e.index = i;
      e.vl_task = name;
      e.image_ids = std::move(vl.image_ids);
      e.answers = std::move(vl.answers);
      e.references = std::move(vl.references);
      out.examples.push_back(std::move(e));
    }
  }
  return out;
}

std::string format_vl_input(const TaskSpec& task, const std::string& text) {
  const auto tasks = task.vl_tasks();
  for (const auto& name : tasks)
    if (text.rfind(data::vl_task_prompt(name), 0) == 0) return text;
  if (tasks.size() == 1) return data::vl_task_prompt(tasks.front()) + text;
  std::string prompts;
  for (const auto& name : tasks) prompts += (prompts.empty() ? "\"" : ", \"") + data::vl_task_prompt(name) + "\"";
  throw UsageError("\"" + text + "\": a multi-task run needs the task's prompt in front of the text (" + prompts + ")");
}

std::map<std::string, double> score_vl_predictions(const std::vector<std::string>& predictions,
                                                   const std::vector<data::Example>& examples) {
  if (predictions.size() != examples.size())
    throw Error("score_vl_predictions: " + std::to_string(predictions.size()) + " predictions for " +
                std::to_string(examples.size()) + " examples");
  // Per task, in the order the tasks first appear.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    if (!rows.count(examples[i].vl_task)) order.push_back(examples[i].vl_task);
    rows[examples[i].vl_task].push_back(i);
  }
  std::map<std::string, double> metrics;
  double main_sum = 0;
  for (const auto& task : order) {
    const auto& index = rows[task];
    double main = 0;
    if (task == "caption") {
      std::vector<std::string> predicted;
      std::vector<std::vector<std::string>> references;
      for (std::size_t i : index) {
        predicted.push_back(predictions[i]);
        references.push_back(examples[i].references.empty() ? std::vector<std::string>{examples[i].target}
                                                            : examples[i].references);
      }
      metrics["caption_bleu4"] = data::corpus_bleu4(predicted, references);
      main = metrics["caption_cider"] = data::cider_d(predicted, references);
    } else {
      double sum = 0;
      for (std::size_t i : index) {
        if (task == "nlvr") sum += data::normalize_vqa_answer(predictions[i]) == examples[i].target ? 1.0 : 0.0;
        else sum += data::vqa_score(predictions[i], examples[i].answers);
      }
      main = metrics[task == "vqa" ? "vqa_score" : task + "_accuracy"] = sum / static_cast<double>(index.size());
    }
    main_sum += main;
  }
  metrics["score"] = order.empty() ? 0.0 : main_sum / static_cast<double>(order.size());
  return metrics;
}

}  // namespace ladder::train
