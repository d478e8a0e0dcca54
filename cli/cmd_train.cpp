// `ladder train`: starts a run in --out, or continues one with --resume RUN. SIGINT/SIGTERM
// save last/ and exit 130/143; `ladder train --resume RUN` picks up from there.
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "ladder/dist/environment.h"
#include "ladder/dist/launcher.h"
#include "ladder/dist/process_group.h"
#include "ladder/error.h"
#include "ladder/methods/method.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/run.h"
#include "method_options.h"
#include "runtime_options.h"
#include "task_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {
namespace fs = std::filesystem;

struct TrainCommand {
  std::string model, tokenizer, method = "lst", out, resume, eos_token;
  TaskOptions task;
  double lr = 0;  // 0: default_learning_rate(method)
  std::string schedule = "linear";
  int64_t batch_size = 0;  // 0: 100 (prompt: 50), as the paper
  int64_t max_source_length = 128, max_target_length = 128;
  int64_t epochs = 0;  // 0: the paper's count for the task
  int64_t max_steps = 0, warmup_steps = -1, grad_accum = 1;
  int64_t eval_every = 0, log_every = 10, eval_batch_size = 0, max_new_tokens = 0, num_beams = 0;
  double weight_decay = 0.0, max_grad_norm = 1.0, warmup_ratio = 0;
  bool bucket = false;
  MethodFlags method_flags;
  int64_t data_seed = -1;  // -1: --seed
  std::string cache_dir, cache_dtype = "bf16", cache_memory = "1G";
  bool cache_keep_backbone = false;
  int nproc = 1;
  std::string dist_backend;  // "": nccl on CUDA where built, else gloo
  int64_t dist_timeout = 300;
  RuntimeOptions runtime;
};

// docs/lst-design.md §7: 20 epochs for the small GLUE tasks, 10 for the large ones.
int64_t paper_epochs(const std::string& task) {
  for (const char* small : {"cola", "mrpc", "rte", "stsb", "wnli"})
    if (task == small) return 20;
  train::TaskSpec spec;
  spec.task = task;
  if (spec.is_vl()) return 20;  // the authors' VL script
  return 10;
}

train::RunConfig run_config(const TrainCommand& c, const CLI::App& app) {
  if (c.model.empty()) throw UsageError("--model is required (a Hugging Face folder or arch:NAME)");
  if (c.out.empty()) throw UsageError("--out RUN is required (the run directory to create)");
  train::RunConfig config;
  config.model = c.model;
  config.tokenizer = c.tokenizer;
  config.task = make_task_spec(app, c.task, c.model);
  config.method = c.method;
  config.settings = method_settings(c.method_flags, c.method, app);
  config.precision = c.runtime.precision;
  config.backbone_dtype = c.runtime.backbone_dtype;
  config.max_source_length = c.max_source_length;
  config.max_target_length = c.max_target_length;
  config.eos_token = c.eos_token;
  train::TrainOptions& t = config.train;
  t.learning_rate = c.lr > 0 ? c.lr : default_learning_rate(c.method);
  t.schedule = c.schedule;
  t.warmup_steps = c.warmup_steps;
  t.max_grad_norm = c.max_grad_norm;
  t.adam.weight_decay = c.weight_decay;
  t.warmup_ratio = c.warmup_ratio;
  t.num_beams = c.num_beams > 0 ? c.num_beams : 1;
  if (config.task.is_vl()) {
    if (config.method == "lst" && !config.settings.contains("reduction")) config.settings["reduction"] = 4;
    // The authors' VL recipe (scripts/image/LST.sh) where the command line is silent.
    const auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
    if (!given("--warmup-steps") && !given("--warmup-ratio")) t.warmup_ratio = 0.1;
    if (!given("--max-grad-norm")) t.max_grad_norm = 5.0;
    if (!given("--weight-decay")) t.adam.weight_decay = 0.03;
    if (!given("--num-beams")) t.num_beams = 5;
  }
  t.batch_size = c.batch_size > 0 ? c.batch_size : c.method == "prompt" ? 50 : 100;
  t.grad_accum = c.grad_accum;
  t.max_steps = c.max_steps;
  t.epochs = c.epochs > 0 ? c.epochs : paper_epochs(c.task.task);
  t.eval_every = c.eval_every;
  t.log_every = c.log_every;
  t.eval_batch_size = c.eval_batch_size;
  t.max_new_tokens = c.max_new_tokens;
  t.bucket_by_length = c.bucket;
  t.seed = c.runtime.seed;
  t.data_seed = c.data_seed >= 0 ? static_cast<uint64_t>(c.data_seed) : c.runtime.seed;
  t.cache_backbone = app.get_option("--cache-backbone")->count() > 0;
  t.cache_dir = c.cache_dir.empty() ? "" : fs::absolute(c.cache_dir).lexically_normal().string();
  t.cache_dtype = c.cache_dtype;
  t.cache_memory_bytes = parse_byte_size(c.cache_memory);
  t.cache_release_backbone = !c.cache_keep_backbone;
  for (const char* needs_cache : {"--cache-dtype", "--cache-memory", "--cache-keep-backbone"})
    if (app.get_option(needs_cache)->count() > 0 && !t.cache_backbone)
      throw UsageError(std::string(needs_cache) + " applies to --cache-backbone, which is not given");
  return config;
}

// With --resume everything comes from RUN/run.json; only where and how to run may change, and
// how long (--max-steps or --epochs: a longer run).
void check_resume_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    const std::string name = option->get_name();
    if (option->count() == 0 || name == "--resume" || name == "--device" || name == "--threads" || name == "--help" ||
        name == "--nproc" || name == "--dist-backend" || name == "--dist-timeout" || name == "--max-steps" ||
        name == "--epochs")
      continue;
    throw UsageError(name + " cannot be combined with --resume: the run's settings are in RUN/run.json "
                     "(only --max-steps or --epochs, --device, --threads and the --nproc/--dist-* options may change)");
  }
  if (app.count("--max-steps") > 0 && app.count("--epochs") > 0)
    throw UsageError("--resume takes a new length as --max-steps or --epochs, not both");
}

// `ladder train --nproc N`: the same command in N workers, joined as torchrun would join them.
void launch_workers(const TrainCommand& c, const CLI::App& app, const std::vector<std::string>& arguments) {
  dist::LaunchOptions options;
  options.workers = c.nproc;
  options.arguments = dist::without_option(arguments, "--nproc");
  // The cores are shared: one thread per core in all, not per worker.
  if (app.get_option("--threads")->count() == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    options.arguments.push_back("--threads");
    options.arguments.push_back(std::to_string(std::max(1, cores / c.nproc)));
  }
  options.grace = std::chrono::seconds(c.dist_timeout + 30);
  dist::run_local_workers(options, &std::cerr);
}

void run_train(const TrainCommand& c, const CLI::App& app, const std::vector<std::string>& arguments) {
  const dist::Environment env = dist::read_environment([](const char* name) { return std::getenv(name); });
  if (c.nproc > 1) {
    if (env.distributed())
      throw UsageError("--nproc " + std::to_string(c.nproc) + " starts its own workers, but this process already is " +
                       env.describe() + " (RANK/WORLD_SIZE are set: torchrun?); drop --nproc");
    // Settings errors once, here, rather than once per worker.
    if (c.resume.empty()) run_config(c, app);
    else check_resume_options(app);
    launch_workers(c, app, arguments);
    return;
  }
  torch::Device device = apply_runtime(c.runtime);
  if (env.distributed() && device.is_cuda()) {
    // One GPU per local rank; more ranks than GPUs share them round-robin.
    const int gpus = std::max(1, static_cast<int>(torch::cuda::device_count()));
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % gpus));
  }
  std::unique_ptr<dist::ProcessGroup> group;
  if (env.distributed())
    group = std::make_unique<dist::ProcessGroup>(env, dist::GroupOptions{c.dist_backend, std::chrono::seconds(c.dist_timeout)},
                                                 device);
  else if (app.get_option("--dist-backend")->count() > 0)
    throw UsageError("--dist-backend applies to several ranks (--nproc N, or RANK/WORLD_SIZE from torchrun)");
  train::RunContext context;
  context.device = device;
  context.group = group.get();
  context.hooks.progress = context.writes_files() ? &std::cerr : nullptr;
  context.hooks.stop = [](int64_t) { return train::StopSignals::received(); };
  train::StopSignals signals;
  train::TrainResult result;
  const std::string run_dir = c.resume.empty() ? c.out : c.resume;
  try {
    if (!c.resume.empty()) {
      check_resume_options(app);
      train::RunExtension longer;
      if (app.count("--max-steps") > 0) longer.max_steps = c.max_steps;
      if (app.count("--epochs") > 0) longer.epochs = c.epochs;
      result = train::resume_run(c.resume, context, longer);
    } else {
      result = train::start_run(run_config(c, app), c.out, context);
    }
  } catch (const train::TrainingInterrupted& e) {
    // The checkpoint is saved; main() turns this into exit code 128 + signal.
    throw train::TrainingInterrupted(e.signal(), std::string(e.what()) + "; continue with: ladder train --resume " + run_dir);
  } catch (const std::exception& e) {
    // The other ranks read why this one stopped, instead of only finding it gone.
    if (group) group->publish_failure(e.what());
    throw;
  }
  if (!context.writes_files()) return;
  nlohmann::json summary = {{"run", run_dir},
                            {"global_step", result.state.global_step},
                            {"best_step", result.state.best_step},
                            {"best", result.metrics.value("best", nlohmann::json())},
                            {"last", result.metrics.value("last", nlohmann::json())}};
  std::cout << summary.dump(2) << std::endl;
}

}  // namespace

void add_train_command(CLI::App& root, std::vector<std::string> arguments) {
  auto c = std::make_shared<TrainCommand>();
  CLI::App* app = root.add_subcommand("train", "Fine-tune a T5 model on a GLUE task or your data (resumable)");
  app->add_option("--model", c->model, "Hugging Face model folder or arch:NAME");
  app->add_option("--tokenizer", c->tokenizer, "the model's tokenizer (default: MODEL/spiece.model, tokenizer.model or tokenizer.json)");
  app->add_option("--method", c->method, "lst, full, lora, adapter, bitfit or prompt")->capture_default_str();
  app->add_option("--out", c->out, "run directory to create (run.json, best/, last/, log.jsonl, metrics.json)");
  app->add_option("--resume", c->resume, "continue the run in this directory from its last/ checkpoint");
  add_task_options(app, c->task);
  app->add_option("--lr", c->lr, "learning rate (default: lst 3e-3, prompt 0.3, others 3e-4)")->check(positive_real());
  app->add_option("--schedule", c->schedule, "linear (warmup, then linear decay) or constant (after warmup)")
      ->capture_default_str()
      ->check(CLI::IsMember({"linear", "constant"}));
  app->add_option("--batch-size", c->batch_size, "examples per micro-batch (default 100; prompt 50)")->check(whole_number(1, kMaxCount));
  app->add_option("--grad-accum", c->grad_accum, "micro-batches per update")->capture_default_str()->check(whole_number(1, kMaxCount));
  app->add_option("--epochs", c->epochs, "epochs (default: the paper's, 20 for cola/mrpc/rte/stsb, 10 otherwise)")
      ->check(whole_number(1, kMaxCount));
  app->add_option("--max-steps", c->max_steps, "updates in total (overrides --epochs)")->check(whole_number(1, kMaxCount));
  app->add_option("--warmup-steps", c->warmup_steps,
                  "linear warmup updates (default: the authors' 500, for every task and run length)")
      ->check(whole_number(0, kMaxCount));
  app->add_option("--weight-decay", c->weight_decay, "AdamW decoupled weight decay")->capture_default_str()->check(non_negative_real());
  app->add_option("--max-grad-norm", c->max_grad_norm, "gradient clipping (0: off)")->capture_default_str()->check(non_negative_real());
  add_length_options(app, c->max_source_length, c->max_target_length);
  add_eos_token_option(app, c->eos_token);
  app->add_option("--eval-every", c->eval_every, "updates between evaluations (default: every epoch)")
      ->check(whole_number(1, kMaxCount));
  app->add_option("--log-every", c->log_every, "updates between progress lines")->capture_default_str()->check(whole_number(1, kMaxCount));
  app->add_option("--eval-batch-size", c->eval_batch_size, "decoding batch (default: --batch-size)")->check(whole_number(1, kMaxCount));
  app->add_option("--num-beams", c->num_beams, "beams when decoding for evaluation (default 1; vision-language: 5, the authors')")
      ->check(whole_number(1, 64));
  app->add_option("--warmup-ratio", c->warmup_ratio,
                  "warmup as a share of all updates (vision-language default 0.1, the authors'); --warmup-steps wins")
      ->check(CLI::Range(0.0, 0.99));
  app->add_option("--max-new-tokens", c->max_new_tokens, "decoding length (default: longest label + 1)")
      ->check(whole_number(1, kMaxCount));
  app->add_flag("--bucket", c->bucket, "batch examples of similar length together (less padding)");
  add_method_flags(app, c->method_flags);
  app->add_option("--data-seed", c->data_seed, "seed of the data order (default: --seed)")
      ->check(whole_number(0, std::numeric_limits<int64_t>::max()));
  app->add_option("--cache-backbone", c->cache_dir,
                  "compute the frozen backbone's states of each training example once and read them back in "
                  "later epochs and runs (lst with backbone_dropout off); in DIR, shared by runs on the same "
                  "backbone and data, or in RUN/backbone-cache")
      ->expected(0, 1);
  app->add_option("--cache-dtype", c->cache_dtype, "storage of cached states: bf16, fp32 or int8 (per-row scales)")
      ->capture_default_str()
      ->check(CLI::IsMember({"bf16", "fp32", "int8"}));
  app->add_option("--cache-memory", c->cache_memory, "cached states also held in memory up to this size (the rest read from disk)")
      ->capture_default_str()
      ->check(byte_size());
  app->add_flag("--cache-keep-backbone", c->cache_keep_backbone,
                "keep the backbone's blocks in memory once every example is cached (default: freed for the "
                "training steps, read back from the cache folder for each evaluation)");
  app->add_option("--nproc", c->nproc,
                  "data-parallel workers on this machine (each a rank of c10d; the global batch is split between "
                  "them). Under torchrun (RANK, WORLD_SIZE, ... set) leave it out")
      ->capture_default_str()
      ->check(whole_number(1, 256));
  app->add_option("--dist-backend", c->dist_backend, "collectives of a data-parallel run: gloo (CPU, or CUDA through host "
                                                     "memory) or nccl (CUDA; default there where built)")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  app->add_option("--dist-timeout", c->dist_timeout,
                  "seconds a rank waits for the others (rendezvous, each all-reduce) before it stops with an error")
      ->capture_default_str()
      ->check(whole_number(1, 86400));
  add_runtime_options(app, c->runtime);
  add_backbone_dtype_option(app, c->runtime);
  app->callback([c, app, arguments] {
    if (c->resume.empty() == c->out.empty()) throw UsageError("give either --out RUN (a new run) or --resume RUN (continue one)");
    run_train(*c, *app, arguments);
  });
}

}  // namespace ladder::cli
