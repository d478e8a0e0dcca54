// `ladder eval`: greedy decoding + the task's metrics on a split, for a run's checkpoint
//   ladder eval --run RUN [--split validation|test] [--checkpoint last|best]   (writes RUN/eval_<split>.json)
// The default is last/, the final model, as the authors score it (save_strategy "no").
// or for saved method weights on any model and data:
//   ladder eval --model DIR --weights DIR --task T --data D [--method M]
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/run.h"
#include "runtime_options.h"
#include "task_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {
namespace fs = std::filesystem;

struct EvalCommand {
  std::string run, checkpoint = "last", split = "validation";
  std::string model, tokenizer, method, weights, output, predictions, eos_token;
  TaskOptions task;
  int64_t max_source_length = 128, batch_size = 100, max_new_tokens = 0, num_beams = 0;
  bool swap_images = false;
  RuntimeOptions runtime;
};

std::string weights_method(const std::string& dir) {
  const std::string path = (fs::path(dir) / "adapter_config.json").string();
  if (!fs::exists(path)) throw UsageError(dir + ": no adapter_config.json (expected a directory written by ladder train)");
  return saved_method_name(dir);
}

void run_eval(const EvalCommand& c, const CLI::App& app) {
  torch::Device device = apply_runtime(c.runtime);
  train::DecodeOptions decode;
  decode.batch_size = c.batch_size;
  decode.device = device;
  decode.keep_predictions = !c.predictions.empty();
  nlohmann::json result;
  if (!c.run.empty()) {
    if (!c.eos_token.empty()) throw UsageError("--eos-token: a run evaluates with the eos token it was trained with (run.json)");
    for (const char* other : {"--model", "--weights", "--method", "--task", "--data", "--tokenizer", "--visual-tokens"})
      if (app.count(other)) throw UsageError(std::string(other) + " cannot be combined with --run (the run knows it)");
    train::RunConfig config = train::load_run_config(c.run);
    // Another extraction of the same images (or a copy moved elsewhere); its width is checked.
    const bool other_features = app.count("--features") > 0;
    if (other_features) {
      if (!config.task.is_vl()) throw UsageError("--features: the run at " + c.run + " is not a vision-language run");
      config.task.features = fs::absolute(c.task.features).lexically_normal().string();
    }
    const std::string checkpoint = train::run_checkpoint(c.run, c.checkpoint);
    const std::string precision = app.count("--precision") ? c.runtime.precision : config.precision;
    train::LoadedMethod loaded =
        train::load_trained_method(config.model, config.tokenizer, checkpoint, precision, device, config.train.seed,
                                   run_backbone_dtype(app, c.runtime, config.backbone_dtype), config.eos_token);
    if (app.count("--max-eval-examples")) config.task.max_eval_examples = c.task.max_eval_examples;
    decode.max_new_tokens = c.max_new_tokens > 0 ? c.max_new_tokens : config.train.max_new_tokens;
    decode.num_beams = c.num_beams > 0 ? c.num_beams : config.train.num_beams;
    decode.swap_images = c.swap_images;
    result = train::evaluate_split(*loaded.method, *loaded.tokenizer, config.task, c.split, config.max_source_length, decode,
                                   config.max_target_length);
    result["checkpoint"] = c.checkpoint;
    result["checkpoint_path"] = checkpoint;
    result["step"] = train::load_training_state(checkpoint).global_step;
    std::cerr << "eval: scored " << c.checkpoint << "/ (" << checkpoint << ", update " << result["step"].get<int64_t>()
              << ") on the " << c.split << " split" << (other_features ? " with the features of " + config.task.features : "")
              << (c.swap_images ? ", every image swapped for another" : "")
              << "\n";
    // The run's own record holds scores on its own features only.
    if (other_features) result["features"] = config.task.features;
    if (c.swap_images) result["swapped_images"] = true;
    if (!other_features && !c.swap_images) {
      nlohmann::json record = result;
      record.erase("predictions");
      write_json_atomically((fs::path(c.run) / ("eval_" + c.split + ".json")).string(), record);
    }
  } else {
    if (c.model.empty() || c.weights.empty())
      throw UsageError("give --run RUN, or --model DIR with --weights DIR (and --task, --data)");
    const std::string saved = weights_method(c.weights);
    if (!c.method.empty() && c.method != saved)
      throw UsageError(c.weights + ": " + expected_found("method", c.method, saved, "weights of another method"));
    train::TaskSpec task = make_task_spec(app, c.task, c.model);
    if (!task.is_glue() && task.kind == "classification")
      task.classification.known_labels = train::load_split(task, "train").labels;
    train::LoadedMethod loaded =
        train::load_trained_method(c.model, c.tokenizer, c.weights, c.runtime.precision, device, c.runtime.seed,
                                   c.runtime.backbone_dtype, c.eos_token);
    task.decoder_only = loaded.method->backbone_handle().is_causal_lm();  // GLUE as prompts with label words
    decode.num_beams = c.num_beams > 0 ? c.num_beams : 1;
    decode.swap_images = c.swap_images;
    if (c.max_new_tokens > 0) {
      decode.max_new_tokens = c.max_new_tokens;
    } else if (!train::task_labels(task).empty()) {
      decode.max_new_tokens = train::max_new_tokens_for(*loaded.tokenizer, train::task_labels(task));
    } else {
      std::vector<std::string> targets;
      for (const auto& e : train::load_split(task, "train").examples) targets.push_back(e.target);
      decode.max_new_tokens = train::max_new_tokens_for(*loaded.tokenizer, targets);
    }
    result = train::evaluate_split(*loaded.method, *loaded.tokenizer, task, c.split, c.max_source_length, decode);
    result["weights"] = fs::absolute(c.weights).string();
  }
  if (!c.predictions.empty()) {
    std::string lines;
    for (const auto& row : result["predictions"]) lines += row.dump() + "\n";
    write_file_atomically(c.predictions, lines);
    result.erase("predictions");
    result["predictions_file"] = fs::absolute(c.predictions).lexically_normal().string();
  }
  if (!c.output.empty()) write_json_atomically(c.output, result);
  std::cout << result.dump(2) << std::endl;
}

}  // namespace

void add_eval_command(CLI::App& root) {
  auto c = std::make_shared<EvalCommand>();
  CLI::App* app = root.add_subcommand("eval", "Evaluate a run's checkpoint (or saved weights) on a split; prints JSON");
  app->add_option("--run", c->run, "run directory made by ladder train");
  app->add_option("--num-beams", c->num_beams, "beam search with this many beams (default: the run's, else 1)")
      ->check(CLI::Range(1, 64));
  app->add_option("--checkpoint", c->checkpoint, "last (the final model, as the authors test) or best (highest validation score)")->capture_default_str()->check(CLI::IsMember({"last", "best"}));
  app->add_option("--split", c->split, "validation or test")->capture_default_str()->check(CLI::IsMember({"validation", "test"}));
  app->add_flag("--swap-images", c->swap_images,
                "vision-language ablation: every image of the split gets another image's features (the score must "
                "fall to about text-only if the model reads the images)");
  app->add_option("--model", c->model, "without --run: Hugging Face model folder or arch:NAME");
  app->add_option("--tokenizer", c->tokenizer, "without --run: the model's tokenizer (default: MODEL/spiece.model, tokenizer.model or tokenizer.json)");
  app->add_option("--method", c->method, "without --run: expected method of --weights (checked)");
  app->add_option("--weights", c->weights, "without --run: folder with adapter_config.json + adapter_model.safetensors");
  add_task_options(app, c->task);
  app->add_option("--max-source-length", c->max_source_length, "without --run: input ids per example")->capture_default_str();
  app->add_option("--batch-size", c->batch_size, "decoding batch")->capture_default_str()->check(whole_number(1, kMaxCount));
  app->add_option("--max-new-tokens", c->max_new_tokens, "decoding length (default: the run's, longest label + 1)")
      ->check(whole_number(1, kMaxCount));
  app->add_option("--output", c->output, "also write the JSON here");
  add_eos_token_option(app, c->eos_token);
  app->add_option("--predictions", c->predictions,
                  "write one JSON line per example here: source, prediction, target (vision-language: images, answers)");
  add_runtime_options(app, c->runtime);
  add_backbone_dtype_option(app, c->runtime);
  app->callback([c, app] { run_eval(*c, *app); });
}

}  // namespace ladder::cli
