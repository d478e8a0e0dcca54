// `ladder data --task T --data DIR --split train|validation|test [--limit N]`: the examples
// exactly as training and evaluation see them, one JSON object per line: "index" (the
// example's 0-based position among the examples of its original file), "source", "target"; vision-language rows also "task", "images", "answers" / "references".
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/train/task_data.h"
#include "task_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {

struct DataCommand {
  TaskOptions task;
  std::string split = "train";
  int64_t limit = 0;
};

void run_data(const DataCommand& c, const CLI::App& app) {
  train::TaskSpec task = make_task_spec(app, c.task);
  if (!task.is_glue() && task.kind == "classification" && c.split != "train")
    task.classification.known_labels = train::load_split(task, "train").labels;
  const data::Dataset dataset = train::load_split(task, c.split);
  int64_t written = 0;
  for (const data::Example& e : dataset.examples) {
    if (c.limit > 0 && written == c.limit) break;
    nlohmann::json row{{"index", e.index}, {"source", e.source}, {"target", e.target}};
    if (!e.vl_task.empty()) {  // vision-language: what scoring and the features read too
      row["task"] = e.vl_task;
      row["images"] = e.image_ids;
      if (!e.answers.empty()) row["answers"] = e.answers;
      if (!e.references.empty()) row["references"] = e.references;
    }
    std::cout << row.dump() << "\n";
    ++written;
  }
  std::cout.flush();
  if (!std::cout) throw Error("data: writing to standard output failed");
}

}  // namespace

void add_data_command(CLI::App& root) {
  auto c = std::make_shared<DataCommand>();
  CLI::App* app =
      root.add_subcommand("data", "Print a split's examples as training and evaluation see them (JSON lines)");
  add_task_options(app, c->task);
  app->add_option("--split", c->split, "train, validation or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "validation", "test"}));
  app->add_option("--limit", c->limit, "print at most N examples (0: all)")->check(whole_number(0, kMaxCount));
  app->callback([c, app] { run_data(*c, *app); });
}

}  // namespace ladder::cli
