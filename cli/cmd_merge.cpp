// `ladder merge --model DIR --adapter FOLDER --out DIR`: a LoRA (ladder's or PEFT's), full or
// BitFit folder folded into the model's weights and written as a Hugging Face folder
// (ladder/methods/merge.h), which then loads anywhere as a plain model.
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/methods/merge.h"
#include "ladder/methods/method.h"
#include "ladder/models/backbone.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/t5/load.h"

namespace ladder::cli {
namespace {

struct MergeCommand {
  std::string model, adapter, out;
};

// The model in fp32 whatever the method trained over: the merged values are rounded once, to
// the checkpoint's own dtypes. No tokenizer: merging reads none.
Backbone load_fp32_backbone(const std::string& model) {
  if (model_family(model) == ModelFamily::causal_lm) return load_causal_lm(model).model;
  return load_model(model).model;
}

void run_merge(const MergeCommand& c) {
  // The folders and the method first: refused before a large model loads.
  check_merge_folders(c.model, c.out);
  const std::string method_name = saved_method_name(c.adapter);
  if (const std::string why = why_not_mergeable(method_name); !why.empty())
    throw UsageError("merge: " + c.adapter + ": " + why + "; use the folder as it is (--adapter, --run)");
  auto method = load_method(load_fp32_backbone(c.model), c.adapter, torch::kFloat);
  method->set_training(false);
  const MergeReport report = save_merged_model(*method, c.model, c.out);
  std::cout << "merge: " << method->name() << " from " << c.adapter << " folded into " << c.model << ": "
            << report.tensors_changed << " of " << report.tensors_written << " tensors changed, written to " << c.out
            << "/model.safetensors";
  if (!report.files_copied.empty()) {
    std::cout << "; copied";
    for (const auto& file : report.files_copied) std::cout << " " << file;
  }
  std::cout << "\n";
}

}  // namespace

void add_merge_command(CLI::App& root) {
  auto c = std::make_shared<MergeCommand>();
  CLI::App* app = root.add_subcommand(
      "merge", "Fold a LoRA (ladder's or PEFT's), full or BitFit folder into the model and save it as a Hugging Face folder");
  app->add_option("--model", c->model, "the Hugging Face model folder the method was trained on")->required();
  app->add_option("--adapter", c->adapter, "the method's folder: a run's last/ or best/, ladder init --out, a PEFT LoRA folder")
      ->required();
  app->add_option("--out", c->out, "a new (or empty) folder for config.json, model.safetensors and the tokenizer files")
      ->required();
  app->callback([c] { run_merge(*c); });
}

}  // namespace ladder::cli
