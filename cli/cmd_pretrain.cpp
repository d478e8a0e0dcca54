// `ladder pretrain`: T5 span-corruption pretraining of a small T5 from scratch into a Hugging
// Face folder (see include/ladder/pretrain/pretrain.h). SIGINT/SIGTERM save the state and
// exit 130/143; `ladder pretrain --resume OUT` continues bit for bit.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/Context.h>

#include "commands.h"
#include "ladder/error.h"
#include "ladder/pretrain/pretrain.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/interrupt.h"
#include "runtime_options.h"

namespace ladder::cli {
namespace {

struct PretrainCommand {
  std::vector<std::string> corpus;
  std::string tokenizer, out, resume, config, init;
  // Architecture flags (without --config); defaults are default_model_config()'s.
  int64_t vocab_size = 0;  // 0: the tokenizer's, rounded up to 128
  int64_t d_model = 256, d_kv = 32, num_heads = 8, d_ff = 1024, num_layers = 4, num_decoder_layers = 4;
  std::string feed_forward_proj = "gated-gelu";
  double dropout = 0.0;
  pretrain::PretrainOptions options;
  std::string save_dtype = "fp32";
  int64_t data_seed = -1;  // -1: --seed
  RuntimeOptions runtime;
};

const char* const kArchitectureFlags[] = {"--vocab-size", "--d-model", "--d-kv", "--num-heads", "--d-ff",
                                          "--num-layers", "--num-decoder-layers", "--feed-forward-proj", "--dropout"};

// The architecture comes from one place: flags, --config or --init.
void reject_architecture_flags(const CLI::App& app, const std::string& other_source) {
  for (const char* flag : kArchitectureFlags)
    if (app.count(flag) > 0) throw UsageError(std::string(flag) + " cannot be combined with " + other_source);
}

T5Config model_config(const PretrainCommand& c, const CLI::App& app, const T5Tokenizer& tokenizer) {
  if (!c.init.empty()) {
    if (!c.config.empty()) throw UsageError("--config cannot be combined with --init (the architecture is INIT/config.json)");
    reject_architecture_flags(app, "--init (the architecture is INIT/config.json)");
    return T5Config::from_file(c.init + "/config.json");
  }
  if (!c.config.empty()) {
    reject_architecture_flags(app, "--config (edit the config file instead)");
    return T5Config::from_file(c.config);  // an untied config gets its lm_head
  }
  T5Config config = pretrain::default_model_config(c.vocab_size > 0 ? c.vocab_size : pretrain::padded_vocab_size(tokenizer.vocab_size()));
  config.d_model = c.d_model;
  config.d_kv = c.d_kv;
  config.num_heads = c.num_heads;
  config.d_ff = c.d_ff;
  config.num_layers = c.num_layers;
  config.num_decoder_layers = c.num_decoder_layers;
  config.feed_forward_proj = c.feed_forward_proj;
  config.dropout_rate = c.dropout;
  config.validate("command line");
  return config;
}

// With --resume every setting comes from OUT/pretrain_options.json; only the length of the run,
// how often it reports and where it runs may change.
void check_resume_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    const std::string name = option->get_name();
    if (option->count() == 0) continue;
    if (name == "--resume" || name == "--device" || name == "--threads" || name == "--max-steps" ||
        name == "--log-every" || name == "--save-every" || name == "--help")
      continue;
    throw UsageError(name + " cannot be combined with --resume: the run's settings are in OUT/pretrain_options.json "
                     "(only --max-steps, --log-every, --save-every, --device and --threads may change)");
  }
}

void run_pretrain(PretrainCommand& c, const CLI::App& app) {
  const torch::Device device = apply_runtime(c.runtime);
  // TF32 matmuls on CUDA for fp32 runs (~3x faster on Ampere/Hopper, 10-bit mantissa inputs,
  // fp32 accumulation): a process-wide switch, so it is set here in the command, not the library.
  if (device.is_cuda()) at::globalContext().setAllowTF32CuBLAS(true);
  pretrain::PretrainHooks hooks;
  hooks.progress = &std::cerr;
  hooks.stop = [](int64_t) { return train::StopSignals::received(); };
  train::StopSignals signals;
  const std::string out = c.resume.empty() ? c.out : c.resume;
  pretrain::PretrainResult result;
  try {
    if (!c.resume.empty()) {
      check_resume_options(app);
      pretrain::ResumeOverrides overrides;
      if (app.count("--max-steps")) overrides.max_steps = c.options.max_steps;
      if (app.count("--log-every")) overrides.log_every = c.options.log_every;
      if (app.count("--save-every")) overrides.save_every = c.options.save_every;
      result = pretrain::resume_pretraining(c.resume, device, hooks, overrides);
    } else {
      if (c.corpus.empty()) throw UsageError("--corpus FILE is required (plain text or .xz; repeat for several files)");
      if (c.tokenizer.empty() && !c.init.empty()) c.tokenizer = c.init + "/spiece.model";
      if (c.tokenizer.empty()) throw UsageError("--tokenizer is required (a sentencepiece spiece.model, e.g. T5's)");
      const T5Tokenizer tokenizer = T5Tokenizer::load(c.tokenizer);
      pretrain::PretrainOptions options = c.options;
      options.model = model_config(c, app, tokenizer);
      options.tokenizer = c.tokenizer;
      options.init_from = c.init;
      options.corpus.files = c.corpus;
      options.corpus.seed = c.data_seed >= 0 ? static_cast<uint64_t>(c.data_seed) : c.runtime.seed;
      options.seed = c.runtime.seed;
      options.precision = c.runtime.precision;
      options.save_dtype = c.save_dtype;
      result = pretrain::start_pretraining(options, c.out, device, hooks);
    }
  } catch (const train::TrainingInterrupted& e) {
    std::cerr << "ladder: " << e.what() << "; continue with: ladder pretrain --resume " << out << std::endl;
    // The state is saved; 128 + signal tells the caller how the run ended. main() maps every
    // error to 1 or 2, so this one command ends the process itself (as `ladder train` does).
    std::cout.flush();
    std::exit(e.exit_code());
  }
  nlohmann::json summary = {{"out", out},
                            {"steps", result.steps},
                            {"last_loss", result.last_loss},
                            {"unigram_entropy", result.unigram_entropy},
                            {"tokens_per_second", result.tokens_per_second}};
  std::cout << summary.dump(2) << std::endl;
}

}  // namespace

void add_pretrain_command(CLI::App& root) {
  auto c = std::make_shared<PretrainCommand>();
  pretrain::PretrainOptions& o = c->options;
  CLI::App* app = root.add_subcommand(
      "pretrain", "Pretrain a small T5 with span corruption on text files into a Hugging Face folder (resumable)");
  app->add_option("--corpus", c->corpus, "text file, plain or .xz (repeat or list several; read side by side)");
  app->add_option("--tokenizer", c->tokenizer, "sentencepiece model (copied to OUT/spiece.model)");
  app->add_option("--out", c->out, "run directory to create (config.json, model.safetensors, spiece.model, log, state)");
  app->add_option("--resume", c->resume, "continue the run in this directory");
  app->add_option("--config", c->config, "model config.json (instead of the architecture flags)");
  app->add_option("--init", c->init,
                  "start from this Hugging Face folder's weights and architecture (continued pretraining; "
                  "--tokenizer defaults to its spiece.model)");
  app->add_option("--vocab-size", c->vocab_size, "embedding rows (default: the tokenizer's, rounded up to 128)")
      ->check(CLI::PositiveNumber);
  app->add_option("--d-model", c->d_model, "model width")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--d-kv", c->d_kv, "attention head width")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--num-heads", c->num_heads, "attention heads")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--d-ff", c->d_ff, "feed-forward width")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--num-layers", c->num_layers, "encoder layers")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--num-decoder-layers", c->num_decoder_layers, "decoder layers")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--feed-forward-proj", c->feed_forward_proj, "relu, gelu, gated-gelu, gated-silu or gated-relu")
      ->capture_default_str();
  app->add_option("--dropout", c->dropout, "dropout rate (T5 v1.1 pretrained with 0)")->capture_default_str();
  app->add_option("--input-length", o.input_length, "corrupted input tokens per example (T5: 512)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 16));
  app->add_option("--noise-density", o.corruption.noise_density, "fraction of tokens masked")->capture_default_str();
  app->add_option("--mean-span-length", o.corruption.mean_noise_span_length, "mean masked span length")
      ->capture_default_str();
  app->add_option("--batch-size", o.batch_size, "examples per update")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--max-steps", o.max_steps, "updates in total")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--lr", o.learning_rate, "peak AdamW learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--schedule", o.schedule, "after warmup: linear (decay to 0), inverse-sqrt (T5's) or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"linear", "inverse-sqrt", "constant"}));
  app->add_option("--warmup-steps", o.warmup_steps, "linear warmup updates (default: min(1000, max-steps/10))")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--weight-decay", o.adam.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app->add_option("--adam-beta2", o.adam.beta2, "AdamW beta2")->capture_default_str();
  app->add_option("--max-grad-norm", o.max_grad_norm, "gradient clipping (0: off)")->capture_default_str();
  app->add_option("--log-every", o.log_every, "updates between progress lines")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--save-every", o.save_every, "updates between checkpoints (and exports)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--baseline-examples", o.baseline_examples, "examples for the unigram baseline (0: skip)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--split", o.corpus.split, "documents: auto, line (one per line) or paragraph (blank-line separated)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "line", "paragraph"}));
  app->add_option("--shuffle-block", o.corpus.shuffle_block, "examples shuffled together (memory: ~570 bytes each, x2)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--max-document-bytes", o.corpus.max_document_bytes, "longer documents are cut")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 30));
  app->add_option("--data-seed", c->data_seed, "seed of the data order and masks (default: --seed)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--save-dtype", c->save_dtype, "dtype of OUT/model.safetensors")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  add_runtime_options(app, c->runtime);
  app->callback([c, app] {
    if (c->resume.empty() == c->out.empty()) throw UsageError("give either --out OUT (a new run) or --resume OUT (continue one)");
    run_pretrain(*c, *app);
  });
}

}  // namespace ladder::cli
