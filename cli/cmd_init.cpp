// `ladder init --model M --method NAME [settings] [--task T --data DIR] --out DIR`: writes the
// adapter folder a training run with the same model, method, settings and --seed starts from
// (LST's Fisher pruning included, which reads the task's training split), so that an
// initialisation can be inspected, compared and shared. `ladder train` with the same flags
// begins at exactly these weights.
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/methods/method.h"
#include "ladder/train/run.h"
#include "method_options.h"
#include "runtime_options.h"
#include "task_options.h"

namespace ladder::cli {
namespace {

struct InitCommand {
  std::string model, tokenizer, method = "lst", out;
  MethodFlags method_flags;
  TaskOptions task;
  int64_t max_source_length = 128, max_target_length = 128;
  RuntimeOptions runtime;
};

void run_init(const InitCommand& c, const CLI::App& app) {
  const torch::Device device = apply_runtime(c.runtime);
  train::RunConfig config;
  config.model = c.model;
  config.tokenizer = c.tokenizer;
  config.method = c.method;
  config.settings = method_settings(c.method_flags, c.method, app);
  config.precision = c.runtime.precision;
  config.max_source_length = c.max_source_length;
  config.max_target_length = c.max_target_length;
  config.train.seed = c.runtime.seed;
  if (app.count("--task") || app.count("--data")) config.task = make_task_spec(app, c.task, c.model);
  else config.task.data.clear();  // no task: a data-dependent initialisation says what it needs
  train::InitialMethod initial = train::initial_method(config, device);
  if (!initial.log.empty()) std::cerr << initial.log << "\n";
  initial.loaded.method->set_base_model_source(c.model);
  save_method(*initial.loaded.method, c.out);
  std::cout << "init: " << initial.loaded.method->name() << " " << initial.loaded.method->settings().dump() << ", "
            << initial.loaded.method->trainable_count() << " trainable parameters, written to " << c.out << "\n";
}

}  // namespace

void add_init_command(CLI::App& root) {
  auto c = std::make_shared<InitCommand>();
  CLI::App* app = root.add_subcommand(
      "init", "Write the adapter folder a training run starts from (initialisation included) without training");
  app->add_option("--model", c->model, "Hugging Face model folder or arch:NAME")->required();
  app->add_option("--tokenizer", c->tokenizer, "the model's tokenizer (default: MODEL/spiece.model, tokenizer.model or tokenizer.json)");
  app->add_option("--method", c->method, "lst, full, lora, adapter, bitfit or prompt")
      ->capture_default_str()
      ->check(CLI::IsMember(method_names()));
  add_method_flags(app, c->method_flags);
  add_task_options(app, c->task);
  add_length_options(app, c->max_source_length, c->max_target_length);
  app->add_option("--out", c->out, "folder to write adapter_config.json + adapter_model.safetensors into")->required();
  add_runtime_options(app, c->runtime);
  app->callback([c, app] { run_init(*c, *app); });
}

}  // namespace ladder::cli
