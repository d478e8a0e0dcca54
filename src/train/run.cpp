#include "ladder/train/run.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <ostream>
#include <tuple>

#include "ladder/error.h"
#include "ladder/models/quantize.h"
#include "ladder/models/llama/load.h"
#include "ladder/models/t5/load.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/method_init.h"
#include "ladder/train/run_lock.h"
#include "ladder/train/schedule.h"
#include "ladder/train/visual_features.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

constexpr int kRunVersion = 1;

torch::ScalarType storage_dtype(const std::string& precision) {
  if (precision == "fp32") return torch::kFloat;
  if (precision == "bf16") return torch::kBFloat16;
  throw UsageError(expected_found("precision", "fp32 or bf16 (fp16 overflows in T5)", "\"" + precision + "\""));
}

// What the backbone is stored as: --backbone-dtype, or (empty, as in run.json files written
// before the option existed) the --precision dtype.
std::string resolved_backbone_dtype(const std::string& backbone_dtype, const std::string& precision) {
  return backbone_dtype.empty() ? precision : backbone_dtype;
}

std::string absolute_path(const std::string& path) {
  return path.empty() ? path : fs::absolute(path).lexically_normal().string();
}

std::string run_json_path(const std::string& run_dir) { return (fs::path(run_dir) / "run.json").string(); }

struct LoadedBackbone {
  Backbone model;
  std::shared_ptr<TextTokenizer> tokenizer;
  std::string tokenizer_path;
};

// Everything a run trains and validates on, tokenised.
TrainData prepare_data(const RunConfig& config, const LoadedBackbone& backbone) {
  data::Dataset train = load_split(config.task, "train");
  data::Dataset validation = load_split(config.task, "validation");
  TrainData data;
  const auto tokenize = [&](const data::Dataset& dataset) {
    return tokenize_for(backbone.model, *backbone.tokenizer, dataset.examples, config.max_source_length,
                        config.max_target_length);
  };
  data.train = tokenize(train);
  data.validation = tokenize(validation);
  for (const auto& e : validation.examples) data.validation_references.push_back(e.target);
  data.visual = open_visual_features(config.task);
  if (data.visual) {
    // Every image is found now, not at the first batch that needs it.
    data.visual->check_images(data.train, config.task.task + " train split");
    data.visual->check_images(data.validation, config.task.task + " validation split");
    data.validation_truth = std::move(validation.examples);
  }
  return data;
}

void check_tokenizer_fits(const TextTokenizer& tokenizer, const std::string& path, int64_t model_vocab) {
  if (tokenizer.vocab_size() > model_vocab)
    throw UsageError(expected_found(path + ": tokenizer vocabulary", "at most the model's " + std::to_string(model_vocab),
                                    std::to_string(tokenizer.vocab_size()), "tokenizer of another model?"));
}

LoadedBackbone load_backbone(const std::string& model, const std::string& tokenizer_path, const std::string& precision,
                             const std::string& backbone_dtype, const torch::Device& device, uint64_t seed,
                             const std::string& eos_token) {
  storage_dtype(precision);  // its own message first
  const BackboneStorage storage = backbone_storage(backbone_dtype, precision);
  ModelOptions options;
  options.device = device;
  options.dtype = storage.dtype;
  options.quantization = storage.quantization;
  options.seed = seed;
  if (model_family(model) == ModelFamily::causal_lm) {
    LoadedCausalLM loaded = load_causal_lm(model, options);
    const std::string path = tokenizer_path.empty() ? loaded.tokenizer_path : tokenizer_path;
    if (path.empty())
      throw UsageError(model + ": no tokenizer.model or tokenizer.json next to the model (pass --tokenizer FILE)");
    LoadedBackbone b{loaded.model, load_causal_lm_tokenizer(path), path};
    check_tokenizer_fits(*b.tokenizer, path, loaded.model->config.vocab_size);
    if (!eos_token.empty()) use_eos_token(loaded.model->config, *b.tokenizer, path, eos_token);
    return b;
  }
  if (!eos_token.empty())
    throw UsageError("--eos-token " + eos_token + ": a T5 model's answers end with its </s>; the option is for decoder-only models");
  LoadedModel loaded = load_model(model, options);
  const std::string path = tokenizer_path.empty() ? loaded.tokenizer_path : tokenizer_path;
  if (path.empty()) throw UsageError(model + ": no spiece.model next to the model (pass --tokenizer FILE)");
  LoadedBackbone b{loaded.model, std::make_shared<T5Tokenizer>(T5Tokenizer::load(path)), path};
  check_tokenizer_fits(*b.tokenizer, path, loaded.model->config.vocab_size);
  return b;
}

// The run's method around `backbone`, on `device`, seeded with the run's seed.
// train: the training examples, whose images give the feature statistics of a new method.
std::unique_ptr<FineTuningMethod> build_method(const RunConfig& config, Backbone backbone, const torch::Device& device,
                                               VisualFeatures* visual, const std::vector<TokenizedExample>& train) {
  MethodOptions options;
  if (visual) {
    options.visual.feature_dim = visual->feature_dim();
    if (config.task.feature_norm == "standardize")
      std::tie(options.visual.feature_mean, options.visual.feature_std) = visual->statistics(train);
  }
  options.name = config.method;
  options.settings = config.settings;
  options.seed = config.train.seed;
  options.backbone_dtype = backbone_storage(config.backbone_dtype, config.precision).dtype;
  std::unique_ptr<FineTuningMethod> method = make_method(std::move(backbone), options);
  method->to(device);
  return method;
}

// What the task needs of the model family: a decoder-only model reads GLUE as prompts, and only
// it learns plain text.
void fit_task_to_backbone(TaskSpec& task, const Backbone& backbone) {
  task.decoder_only = backbone.is_causal_lm();
  if (task.scored_by_loss() && !task.decoder_only)
    throw UsageError("--task text (plain-text language modelling) needs a decoder-only model; a T5 learns "
                     "input/target pairs (--task custom)");
  if (task.is_vl() && task.decoder_only)
    throw UsageError("vision-language tasks need a T5 backbone (the CLIP-T5 of docs/lst-design.md), not " + backbone.family());
}

}  // namespace

void use_eos_token(LlamaConfig& config, const TextTokenizer& tokenizer, const std::string& tokenizer_path,
                   const std::string& text) {
  const int64_t id = tokenizer.token_to_id(text);
  if (id < 0)
    throw UsageError("--eos-token " + text + ": not one token of " + tokenizer_path + " (it reads as " +
                     std::to_string(tokenizer.encode_text(text).size()) + " tokens)");
  if (id >= config.vocab_size)
    throw UsageError(expected_found("--eos-token " + text, "an id below the model's " + std::to_string(config.vocab_size),
                                    std::to_string(id)));
  // First: the id appended to targets; the model's own eos ids still end generation.
  auto& ids = config.eos_token_ids;
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  ids.insert(ids.begin(), id);
}

void check_visual_width(FineTuningMethod& method, VisualFeatures* visual, const std::string& what) {
  const int64_t trained = method.visual_config().feature_dim;
  if (!visual) {
    if (trained > 0)
      throw UsageError(what + " reads image features of width " + std::to_string(trained) +
                       ": evaluate it on a vision-language task with --features");
    return;
  }
  if (trained == 0)
    throw UsageError(what + " was trained without image features: it cannot read " + visual->path());
  if (trained != visual->feature_dim())
    throw UsageError(expected_found(visual->path() + ": feature width", std::to_string(trained) + " (what " + what +
                                    " was trained on)", std::to_string(visual->feature_dim())));
}

InitialMethod initial_method(const RunConfig& config, const torch::Device& device) {
  LoadedBackbone backbone =
      load_backbone(config.model, config.tokenizer, config.precision, config.backbone_dtype, device, config.train.seed,
                    config.eos_token);
  TaskSpec task = config.task;
  if (!task.data.empty()) fit_task_to_backbone(task, backbone.model);
  InitialMethod out;
  std::vector<TokenizedExample> examples;
  const auto load_examples = [&] {
    if (!examples.empty()) return;
    const data::Dataset train = load_split(task, "train");
    examples = tokenize_for(backbone.model, *backbone.tokenizer, train.examples, config.max_source_length,
                            config.max_target_length);
  };
  // A vision-language method's width comes from the features its training examples name.
  std::shared_ptr<VisualFeatures> visual = open_visual_features(config.task);
  if (visual) {
    load_examples();
    visual->check_images(examples, config.task.task + " train split");
  }
  out.loaded.method = build_method(config, backbone.model, device, visual.get(), examples);
  out.loaded.tokenizer = backbone.tokenizer;
  if (out.loaded.method->init_examples_needed() > 0) {
    if (config.task.data.empty())
      throw UsageError("method " + config.method + " initialises from training data (LST's Fisher pruning): give "
                       "--task and --data, or choose a data-free initialisation (--settings '{\"side_init\": "
                       "\"magnitude\"}')");
    load_examples();
    out.log = initialize_from_training_data(*out.loaded.method, examples, config.train.seed, device);
  }
  return out;
}

nlohmann::json RunConfig::to_json() const {
  return {{"version", kRunVersion},
          {"model", model},
          {"tokenizer", tokenizer},
          {"task", task.to_json()},
          {"method", method},
          {"settings", settings},
          {"precision", precision},
          {"backbone_dtype", resolved_backbone_dtype(backbone_dtype, precision)},
          {"max_source_length", max_source_length},
          {"max_target_length", max_target_length},
          {"eos_token", eos_token},
          {"training", train.to_json()}};
}

RunConfig RunConfig::from_json(const nlohmann::json& json, const std::string& source) {
  RunConfig c;
  try {
    if (!json.is_object()) throw FormatError(source + ": expected a JSON object (a run description)");
    if (json.value("version", 0) != kRunVersion)
      throw FormatError(source + ": " + expected_found("run version", std::to_string(kRunVersion),
                                                       json.value("version", nlohmann::json()).dump()));
    c.model = json_field<std::string>(json, "model", source);
    c.tokenizer = json.value("tokenizer", "");
    c.task = TaskSpec::from_json(json.at("task"), source);
    c.method = json_field<std::string>(json, "method", source);
    c.settings = json.value("settings", nlohmann::json::object());
    c.precision = json.value("precision", c.precision);
    c.backbone_dtype = json.value("backbone_dtype", "");
    if (!c.backbone_dtype.empty() && c.backbone_dtype != "fp32" && c.backbone_dtype != "bf16" &&
        c.backbone_dtype != "int8" && c.backbone_dtype != "nf4")
      throw FormatError(source + ": \"backbone_dtype\": " +
                        expected_found("backbone dtype", "fp32, bf16, int8 or nf4", "\"" + c.backbone_dtype + "\""));
    c.max_source_length = json.value("max_source_length", c.max_source_length);
    c.eos_token = json.value("eos_token", "");
    c.max_target_length = json.value("max_target_length", c.max_target_length);
    try {
      c.train = TrainOptions::from_json(json.at("training"), source);
    } catch (const UsageError& e) {
      throw FormatError(source + ": \"training\": " + e.what());
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": bad run description (" + std::string(e.what()) + ")");
  }
  return c;
}

RunConfig load_run_config(const std::string& run_dir) {
  const std::string path = run_json_path(run_dir);
  if (!fs::exists(path)) throw UsageError(run_dir + ": not a run directory (no run.json; made by ladder train --out)");
  return RunConfig::from_json(read_json_file(path), path);
}

std::string run_checkpoint(const std::string& run_dir, const std::string& which) {
  if (which != "best" && which != "last") throw UsageError(expected_found("checkpoint", "best or last", "\"" + which + "\""));
  try {
    return checkpoint_path((fs::path(run_dir) / which).string());
  } catch (const LoadError&) {
    throw UsageError(run_dir + ": no " + which + "/ checkpoint yet" +
                     (which == "best" ? " (no evaluation has run; try --checkpoint last)" : " (the run saved none)"));
  }
}

namespace {

// Updates saved in RUN's checkpoint (last/, or last.old/ where a save was cut short); 0 when
// it has none, and 1 when one exists but cannot be read (so that it is never discarded).
int64_t updates_made(const std::string& run_dir) {
  for (const char* kept : {"last", "last.old"}) {
    const fs::path dir = fs::path(run_dir) / kept;
    if (!fs::exists(dir)) continue;
    try {
      return load_training_state(checkpoint_path(dir.string())).global_step;
    } catch (const std::exception&) {
      return 1;
    }
  }
  return 0;
}

// What training writes besides run.json (which the new start rewrites), so that a run started
// over begins clean; a backbone cache stays (checked against the weights, data and settings
// before any entry is used).
void remove_training_outputs(const std::string& run_dir) {
  for (const char* written : {"log.jsonl", "metrics.json", "best", "best.old", "last", "last.old"})
    fs::remove_all(fs::path(run_dir) / written);
}

// Everything from loading the backbone to the last update, for a run with no checkpoint.
TrainResult train_from_start(RunConfig config, const std::string& run_dir, const RunContext& context) {
  config.train.validate();
  if (config.model.rfind("arch:", 0) != 0) config.model = absolute_path(config.model);
  config.task.data = absolute_path(config.task.data);
  LoadedBackbone backbone = load_backbone(config.model, config.tokenizer, config.precision, config.backbone_dtype,
                                          context.device, config.train.seed, config.eos_token);
  config.tokenizer = absolute_path(backbone.tokenizer_path);
  fit_task_to_backbone(config.task, backbone.model);
  // Before the training, not at its first evaluation.
  if (backbone.model.is_causal_lm() && config.train.num_beams > 1)
    throw UsageError("--num-beams " + std::to_string(config.train.num_beams) +
                     ": beam search is for T5 models; decoder-only models decode greedily");

  if (!config.task.is_glue() && config.task.kind == "classification" && config.task.classification.known_labels.empty())
    config.task.classification.known_labels = load_split(config.task, "train").labels;
  TrainData data = prepare_data(config, backbone);

  std::unique_ptr<FineTuningMethod> method = build_method(config, backbone.model, context.device, data.visual.get(), data.train);
  method->set_base_model_source(config.model);
  config.settings = method->settings();  // defaults filled in

  Trainer trainer(*method, *backbone.tokenizer, config.task, std::move(data), config.train, run_dir, context.device,
                  context.group);
  config.train.max_new_tokens = trainer.max_new_tokens();
  config.train.warmup_steps = config.train.warmup_for(trainer.total_steps());
  trainer.check_settings();  // a refusal leaves nothing behind
  if (context.writes_files()) {
    fs::create_directories(run_dir);
    write_json_atomically(run_json_path(run_dir), config.to_json());
  }
  return trainer.run(context.hooks);
}

}  // namespace

TrainResult start_run(RunConfig config, const std::string& run_dir, const RunContext& context) {
  // Rank 0 checks and writes; the others would find its run.json and its lock.
  if (!context.writes_files()) return train_from_start(std::move(config), run_dir, context);
  RunLock lock(run_dir);  // before anything is written, for the run's whole life
  if (fs::exists(run_json_path(run_dir))) {
    if (updates_made(run_dir) > 0)
      throw UsageError(run_dir + " already holds a run (run.json): continue it with --resume " + run_dir +
                       " or pick a new --out");
    // A run that never made an update (refused, or stopped during its initialisation) holds
    // nothing a new command would lose but its settings.
    if (context.hooks.progress)
      *context.hooks.progress << "train: " << run_dir << " holds a run that made no update: starting this one in its place\n";
    remove_training_outputs(run_dir);
  }
  return train_from_start(std::move(config), run_dir, context);
}

TrainResult resume_run(const std::string& run_dir, const RunContext& context, const RunExtension& longer) {
  RunConfig config = load_run_config(run_dir);
  if (longer.max_steps > 0) config.train.max_steps = longer.max_steps;
  if (longer.epochs > 0) {
    config.train.epochs = longer.epochs;
    config.train.max_steps = 0;  // --epochs sets the length; a recorded --max-steps would win
  }
  std::optional<RunLock> lock;
  if (context.writes_files()) lock.emplace(run_dir);
  std::string checkpoint;
  try {
    checkpoint = checkpoint_path((fs::path(run_dir) / "last").string());
  } catch (const LoadError&) {
    for (const char* kept : {"last", "last.old"})
      if (fs::exists(fs::path(run_dir) / kept))
        throw FormatError((fs::path(run_dir) / kept).string() + ": a damaged checkpoint (" +
                          (fs::path(run_dir) / kept / "training_state.json").string() +
                          " is missing or unreadable); move it away to start the run over");
    // Stopped before its first checkpoint: nothing was trained that could be kept, so the run
    // starts from the beginning with its recorded settings; what it logged goes.
    if (context.hooks.progress)
      *context.hooks.progress << "train: " << run_dir << " has no checkpoint yet: starting it from the beginning\n";
    if (context.writes_files()) remove_training_outputs(run_dir);
    return train_from_start(std::move(config), run_dir, context);
  }
  if (load_training_state(checkpoint).finished && !longer.any()) {
    if (context.hooks.progress) *context.hooks.progress << "train: " << run_dir << " has already finished\n";
    TrainResult result;
    result.state = load_training_state(checkpoint);
    result.metrics = read_json_file((fs::path(run_dir) / "metrics.json").string());
    return result;
  }
  LoadedBackbone backbone = load_backbone(config.model, config.tokenizer, config.precision, config.backbone_dtype,
                                          context.device, config.train.seed, config.eos_token);
  TrainData data = prepare_data(config, backbone);
  std::unique_ptr<FineTuningMethod> method = load_method(backbone.model, checkpoint, backbone_storage(config.backbone_dtype, config.precision).dtype);
  method->to(context.device);
  method->set_base_model_source(config.model);
  check_visual_width(*method, data.visual.get(), checkpoint);
  Trainer trainer(*method, *backbone.tokenizer, config.task, std::move(data), config.train, run_dir, context.device,
                  context.group);
  trainer.restore(checkpoint, longer.any());
  if (longer.any() && context.writes_files()) {
    if (context.hooks.progress)
      *context.hooks.progress << "train: " << run_dir << " continues to " << trainer.total_steps()
                              << " updates (the learning-rate schedule follows the new length)\n";
    write_json_atomically(run_json_path(run_dir), config.to_json());
  }
  return trainer.run(context.hooks);
}

LoadedMethod load_trained_method(const std::string& model, const std::string& tokenizer,
                                 const std::string& checkpoint_dir, const std::string& precision,
                                 const torch::Device& device, uint64_t seed, const std::string& backbone_dtype,
                                 const std::string& eos_token) {
  LoadedBackbone backbone = load_backbone(model, tokenizer, precision, backbone_dtype, device, seed, eos_token);
  LoadedMethod loaded;
  loaded.method = load_method(backbone.model, checkpoint_dir, backbone_storage(backbone_dtype, precision).dtype);
  loaded.method->to(device);
  loaded.method->set_training(false);
  loaded.tokenizer = backbone.tokenizer;
  return loaded;
}

nlohmann::json evaluate_split(FineTuningMethod& method, const TextTokenizer& tokenizer, const TaskSpec& task,
                              const std::string& split, int64_t max_source_length, const DecodeOptions& options,
                              int64_t max_target_length) {
  data::Dataset dataset = load_split(task, split);
  // Generated targets are compared as text, whatever their token length.
  auto examples = tokenize_for(method.backbone_handle(), tokenizer, dataset.examples, max_source_length,
                               task.scored_by_loss() ? max_target_length : std::max<int64_t>(512, max_target_length));
  if (task.scored_by_loss())
    return {{"task", task.task}, {"split", split}, {"examples", examples.size()}, {"metrics", evaluate_loss(method, examples, options)}};
  std::vector<std::string> references;
  for (const auto& e : dataset.examples) references.push_back(e.target);
  DecodeOptions decode = options;
  if (options.swap_images) {
    if (!task.is_vl()) throw UsageError("--swap-images: task " + task.task + " has no images");
    swap_images(examples);
  }
  std::shared_ptr<VisualFeatures> visual;
  if (task.is_vl() && !decode.visual) {
    visual = open_visual_features(task);
    visual->check_images(examples, task.task + " " + split + " split");
    check_visual_width(method, visual.get(), "the trained method");
    decode.visual = visual.get();
  }
  Evaluation e = evaluate(method, tokenizer, task, examples, references, decode, &dataset.examples);
  nlohmann::json result = {{"task", task.task}, {"split", split}, {"examples", examples.size()}, {"metrics", e.metrics}};
  if (options.keep_predictions) {
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < examples.size(); ++i) {
      const data::Example& truth = dataset.examples[i];
      nlohmann::json row = {{"index", i}, {"source", truth.source}, {"prediction", e.predictions[i]}, {"target", truth.target}};
      if (task.is_vl()) {
        row["task"] = truth.vl_task;
        row["images"] = examples[i].image_ids;  // after --swap-images, the images the model saw
        if (!truth.answers.empty()) {
          row["answers"] = nlohmann::json::object();
          for (const auto& [answer, score] : truth.answers) row["answers"][answer] = score;
        }
      }
      rows.push_back(std::move(row));
    }
    result["predictions"] = std::move(rows);
  }
  return result;
}

}  // namespace ladder::train
