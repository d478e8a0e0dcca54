// The pretraining loop: stream -> batches -> AdamW updates, progress, checkpoints, export.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <ostream>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/pretrain/pretrain.h"
#include "ladder/runtime/memory.h"
#include "ladder/train/batching.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/progress.h"

namespace ladder::pretrain {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kOptionsFile = "pretrain_options.json";
constexpr const char* kLogFile = "pretrain_log.jsonl";
constexpr const char* kStateDir = "pretrain_state";
constexpr const char* kStateFile = "state.json";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

// Counters that travel with the checkpoint.
struct Counters {
  int64_t step = 0;
  int64_t examples_seen = 0;
  int64_t tokens_seen = 0;  // input + target tokens
  double unigram_entropy = 0;
  double train_seconds = 0;  // over all processes of the run
};

class Pretrainer {
 public:
  Pretrainer(PretrainOptions options, std::string out_dir, torch::Device device)
      : options_(std::move(options)), out_(std::move(out_dir)), device_(device),
        tokenizer_(T5Tokenizer::load(options_.tokenizer)) {
    options_.validate();
    if (options_.model.vocab_size < tokenizer_.vocab_size())
      throw UsageError(expected_found("model vocab_size covering the tokenizer", ">= " + std::to_string(tokenizer_.vocab_size()),
                                      std::to_string(options_.model.vocab_size), options_.tokenizer));
    master_ = T5ForConditionalGeneration(options_.model);
    init_pretrain_weights(*master_, options_.seed);
    master_->to(device_);
    if (options_.precision == "bf16") {
      compute_ = T5ForConditionalGeneration(options_.model);
      compute_->to(device_, torch::kBFloat16);
      copy_master_to_compute();
    } else {
      compute_ = master_;
    }
    for (const auto& item : master_->named_parameters(true)) params_.emplace_back(item.key(), item.value());
    optimizer_ = std::make_unique<train::AdamW>(params_, options_.adam);
    stream_ = std::make_unique<PretrainStream>(options_.corpus, options_.corruption, options_.input_length, tokenizer_);
  }

  // A new run's starting weights from options.init_from (a resumed run has its own).
  void load_initial_weights() {
    if (options_.init_from.empty()) return;
    const T5ForConditionalGeneration loaded = load_model(options_.init_from).model;
    if (loaded->config.to_json() != options_.model.to_json())
      throw UsageError(options_.init_from + "/config.json: the architecture differs from the run's model config");
    torch::NoGradGuard no_grad;
    const auto source = loaded->named_parameters(true);
    for (auto& item : master_->named_parameters(true)) item.value().copy_(source[item.key()]);
    if (options_.precision == "bf16") copy_master_to_compute();
  }

  void compute_baseline() {
    if (options_.baseline_examples == 0) return;
    PretrainStream first(options_.corpus, options_.corruption, options_.input_length, tokenizer_, /*prefetch=*/false);
    std::vector<std::vector<int64_t>> targets;
    for (int64_t i = 0; i < options_.baseline_examples; ++i) targets.push_back(first.next().targets);
    counters_.unigram_entropy = unigram_entropy(targets);
  }

  void restore() {
    const fs::path dir = checkpoint_dir();
    const std::string state_path = (dir / kStateFile).string();
    const nlohmann::json state = read_json_file(state_path);
    try {
      counters_.step = state.at("step").get<int64_t>();
      counters_.examples_seen = state.at("examples_seen").get<int64_t>();
      counters_.tokens_seen = state.at("tokens_seen").get<int64_t>();
      counters_.unigram_entropy = state.at("unigram_entropy").get<double>();
      counters_.train_seconds = state.at("train_seconds").get<double>();
      restored_seconds_ = counters_.train_seconds;
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(state_path + ": missing or malformed counters (" + std::string(e.what()) + ")");
    }
    if (!state.contains("position")) throw FormatError(state_path + ": missing \"position\"");
    {
      safetensors::Checkpoint weights = safetensors::Checkpoint::open((dir / "model.safetensors").string());
      load_weights(*master_, weights);
    }
    if (options_.precision == "bf16") copy_master_to_compute();
    std::map<std::string, int64_t> steps;
    if (state.contains("optimizer_steps")) steps = state["optimizer_steps"].get<std::map<std::string, int64_t>>();
    std::map<std::string, torch::Tensor> moments;
    if (!steps.empty()) moments = read_safetensors((dir / "optimizer.safetensors").string());
    optimizer_->load_state(moments, steps, (dir / "optimizer.safetensors").string());
    stream_->restore(StreamPosition::from_json(state["position"], state_path), state_path);
    if (counters_.step > options_.max_steps)
      throw UsageError(expected_found("--max-steps at least the steps already done", ">= " + std::to_string(counters_.step),
                                      std::to_string(options_.max_steps)));
    // Records written after the checkpoint describe updates that will be redone.
    train::truncate_jsonl_after((fs::path(out_) / kLogFile).string(), counters_.step);
  }

  PretrainResult run(const PretrainHooks& hooks) {
    const SpanLengths lengths = stream_->lengths();
    const int64_t tokens_per_step = options_.batch_size * (lengths.inputs_length + lengths.targets_length);
    const std::string log_path = (fs::path(out_) / kLogFile).string();
    log_start(hooks, lengths);

    PretrainResult result;
    result.unigram_entropy = counters_.unigram_entropy;
    const int64_t first_step = counters_.step;
    const Clock::time_point process_start = Clock::now();
    Clock::time_point interval_start = Clock::now();
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
    int64_t interval_steps = 0;
    double grad_norm = 0;
    compute_->train();
    while (counters_.step < options_.max_steps) {
      if (hooks.stop) {
        if (const int signal = hooks.stop(counters_.step); signal != 0) {
          counters_.train_seconds = restored_seconds_ + seconds_since(process_start);
          save();
          throw train::TrainingInterrupted(signal, "interrupted by " + signal_name(signal) + " at step " +
                                                       std::to_string(counters_.step) + "; state saved in " + state_dir());
        }
      }
      const int64_t epoch = step_once(loss_sum, grad_norm);
      ++interval_steps;
      counters_.examples_seen += options_.batch_size;
      counters_.tokens_seen += tokens_per_step;
      const bool last = counters_.step == options_.max_steps;
      if (counters_.step % options_.log_every == 0 || last) {
        if (device_.is_cuda()) runtime::cuda_synchronize(device_.has_index() ? device_.index() : 0);
        const double interval_seconds = seconds_since(interval_start);
        const double mean_loss = loss_sum.item<double>() / static_cast<double>(interval_steps);
        if (!std::isfinite(mean_loss))
          throw Error("pretraining diverged: loss " + std::to_string(mean_loss) + " at step " + std::to_string(counters_.step) +
                      " (lower --lr or raise --warmup-steps; the last checkpoint is in " + state_dir() + ")");
        const double per_step = seconds_since(process_start) / static_cast<double>(counters_.step - first_step);
        train::ProgressRecord record;
        record.step = counters_.step;
        record.total_steps = options_.max_steps;
        record.epoch = static_cast<double>(epoch + 1);
        record.streamed = true;
        record.loss = mean_loss;
        record.lr = learning_rate_at(options_, counters_.step - 1);
        record.grad_norm = grad_norm;
        record.tokens_per_second = static_cast<double>(interval_steps * tokens_per_step) / std::max(interval_seconds, 1e-9);
        record.eta_seconds = per_step * static_cast<double>(options_.max_steps - counters_.step);
        record.peak_bytes = train::peak_memory_bytes(device_);
        if (hooks.progress != nullptr) *hooks.progress << train::format_progress_line(record) << std::endl;
        nlohmann::json json = train::progress_json(record);
        json["examples_seen"] = counters_.examples_seen;
        json["tokens_seen"] = counters_.tokens_seen;
        json["unigram_entropy"] = counters_.unigram_entropy;
        train::append_jsonl(log_path, json);
        result.last_loss = mean_loss;
        loss_sum.zero_();
        interval_steps = 0;
        interval_start = Clock::now();
      }
      if (counters_.step % options_.save_every == 0 || last) {
        counters_.train_seconds = restored_seconds_ + seconds_since(process_start);
        save();
        interval_start = Clock::now();  // throughput counts training, not writing
      }
    }
    counters_.train_seconds = restored_seconds_ + seconds_since(process_start);
    if (counters_.step == first_step) save();  // nothing to do: make sure the export exists
    const double seconds = seconds_since(process_start);
    result.steps = counters_.step;
    result.tokens_per_second =
        counters_.step > first_step ? static_cast<double>((counters_.step - first_step) * tokens_per_step) / seconds : 0.0;
    result.model = master_;
    return result;
  }

  PretrainOptions& options() { return options_; }

 private:
  std::string state_dir() const { return (fs::path(out_) / kStateDir).string(); }

  // pretrain_state, or the previous copy a crash between the two renames of
  // train::replace_directory left at pretrain_state.old.
  fs::path checkpoint_dir() const {
    const fs::path dir = state_dir();
    if (fs::exists(dir / kStateFile)) return dir;
    const fs::path old = state_dir() + ".old";
    if (fs::exists(old / kStateFile)) return old;
    throw LoadError(state_dir() + ": no pretraining state here (expected " + kStateFile + " written by ladder pretrain)");
  }

  void copy_master_to_compute() {
    torch::NoGradGuard no_grad;
    auto source = master_->named_parameters(true);
    auto target = compute_->named_parameters(true);
    for (const auto& item : source) target[item.key()].copy_(item.value());
  }

  // One update; returns the data epoch of the batch.
  int64_t step_once(torch::Tensor& loss_sum, double& grad_norm) {
    const SpanLengths& lengths = stream_->lengths();
    const int64_t b = options_.batch_size;
    torch::Tensor inputs = torch::empty({b, lengths.inputs_length}, torch::kLong);
    torch::Tensor labels = torch::empty({b, lengths.targets_length}, torch::kLong);
    int64_t epoch = 0;
    for (int64_t i = 0; i < b; ++i) {
      const PretrainExample e = stream_->next();
      std::copy(e.inputs.begin(), e.inputs.end(), inputs[i].data_ptr<int64_t>());
      std::copy(e.targets.begin(), e.targets.end(), labels[i].data_ptr<int64_t>());
      epoch = e.epoch;
    }
    Seq2SeqBatch batch;
    batch.input_ids = inputs.to(device_);
    batch.labels = labels.to(device_);
    // Dropout (when a config asks for it) draws from seed + step: resumable bit for bit.
    torch::manual_seed(train::mix_seed(options_.seed, counters_.step, train::kDropoutSeedPurpose));
    Seq2SeqOutput out = compute_->forward(batch);
    out.loss.backward();
    loss_sum += out.loss.detach().to(torch::kDouble);
    if (compute_.get() != master_.get()) {
      torch::NoGradGuard no_grad;
      auto compute_params = compute_->named_parameters(true);
      for (auto& [name, param] : params_) {
        torch::Tensor& source = compute_params[name];
        if (source.grad().defined()) param.mutable_grad() = source.grad().to(torch::kFloat);
        source.mutable_grad() = torch::Tensor();
      }
    }
    grad_norm = train::clip_grad_norm(params_, options_.max_grad_norm);
    optimizer_->step(learning_rate_at(options_, counters_.step));
    optimizer_->zero_grad();
    if (compute_.get() != master_.get()) copy_master_to_compute();
    ++counters_.step;
    return epoch;
  }

  void log_start(const PretrainHooks& hooks, const SpanLengths& lengths) {
    int64_t parameters = 0;
    for (const auto& [name, param] : params_) parameters += param.numel();
    nlohmann::json json = {{"type", "start"},
                           {"step", counters_.step},
                           {"max_steps", options_.max_steps},
                           {"parameters", parameters},
                           {"unigram_entropy", counters_.unigram_entropy},
                           {"baseline_examples", options_.baseline_examples},
                           {"raw_length", lengths.raw_length},
                           {"inputs_length", lengths.inputs_length},
                           {"targets_length", lengths.targets_length},
                           {"device", device_.str()},
                           {"precision", options_.precision},
                           {"threads", at::get_num_threads()}};
    std::vector<std::string> splits;
    for (DocumentSplit s : stream_->splits()) splits.push_back(split_name(s));
    json["document_splits"] = splits;
    train::append_jsonl((fs::path(out_) / kLogFile).string(), json);
    if (hooks.progress == nullptr) return;
    char line[512];
    std::snprintf(line, sizeof line,
                  "pretrain: %.1fM parameters | inputs %lld, targets %lld (from %lld raw tokens) | batch %lld | "
                  "unigram baseline %.4f nats/target token (first %lld examples) | %s %s",
                  static_cast<double>(parameters) / 1e6, static_cast<long long>(lengths.inputs_length),
                  static_cast<long long>(lengths.targets_length), static_cast<long long>(lengths.raw_length),
                  static_cast<long long>(options_.batch_size), counters_.unigram_entropy,
                  static_cast<long long>(options_.baseline_examples), device_.str().c_str(), options_.precision.c_str());
    *hooks.progress << line << std::endl;
  }

  void save() {
    const std::string dir = state_dir();
    const std::string staged = train::staging_directory(dir);
    try {
      std::map<std::string, torch::Tensor> weights;
      for (const auto& [name, param] : params_) weights[name] = param.detach();
      write_safetensors((fs::path(staged) / "model.safetensors").string(), weights, {{"format", "pt"}});
      const auto moments = optimizer_->state_tensors();
      if (!moments.empty()) write_safetensors((fs::path(staged) / "optimizer.safetensors").string(), moments, {{"format", "pt"}});
      nlohmann::json state = {{"step", counters_.step},
                              {"max_steps", options_.max_steps},
                              {"examples_seen", counters_.examples_seen},
                              {"tokens_seen", counters_.tokens_seen},
                              {"unigram_entropy", counters_.unigram_entropy},
                              {"train_seconds", counters_.train_seconds},
                              {"position", stream_->position().to_json()},
                              {"optimizer_steps", optimizer_->step_counts()}};
      write_json_atomically((fs::path(staged) / kStateFile).string(), state);
      train::replace_directory(staged, dir);
    } catch (...) {
      std::error_code ignored;
      fs::remove_all(staged, ignored);
      throw;
    }
    save_hf_model(*master_, out_, options_.tokenizer,
                  options_.save_dtype == "bf16" ? torch::kBFloat16 : torch::kFloat);
  }

  PretrainOptions options_;
  std::string out_;
  torch::Device device_;
  T5Tokenizer tokenizer_;
  T5ForConditionalGeneration master_{nullptr}, compute_{nullptr};
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::unique_ptr<train::AdamW> optimizer_;
  std::unique_ptr<PretrainStream> stream_;
  Counters counters_;
  double restored_seconds_ = 0;  // training seconds of the earlier processes of the run
};

}  // namespace

PretrainResult start_pretraining(const PretrainOptions& options, const std::string& out_dir,
                                 const torch::Device& device, const PretrainHooks& hooks) {
  options.validate();
  if (fs::exists(fs::path(out_dir) / kOptionsFile))
    throw UsageError(out_dir + " already holds a pretraining run (continue it with --resume " + out_dir + ")");
  fs::create_directories(out_dir);
  // The tokenizer path is stored absolute so a resume from another directory finds it.
  PretrainOptions stored = options;
  stored.tokenizer = fs::absolute(options.tokenizer).string();
  if (!stored.init_from.empty()) stored.init_from = fs::absolute(options.init_from).string();
  for (auto& file : stored.corpus.files) file = fs::absolute(file).string();
  Pretrainer trainer(stored, out_dir, device);
  trainer.load_initial_weights();
  trainer.compute_baseline();
  write_json_atomically((fs::path(out_dir) / kOptionsFile).string(), stored.to_json());
  std::error_code ignored;
  fs::remove(fs::path(out_dir) / kLogFile, ignored);
  return trainer.run(hooks);
}

PretrainResult resume_pretraining(const std::string& out_dir, const torch::Device& device, const PretrainHooks& hooks,
                                  const ResumeOverrides& overrides) {
  PretrainOptions options = load_pretrain_options(out_dir);
  if (overrides.max_steps > 0) options.max_steps = overrides.max_steps;
  if (overrides.log_every > 0) options.log_every = overrides.log_every;
  if (overrides.save_every > 0) options.save_every = overrides.save_every;
  Pretrainer trainer(options, out_dir, device);
  trainer.restore();
  if (overrides.max_steps > 0)  // record the new length for later resumes
    write_json_atomically((fs::path(out_dir) / kOptionsFile).string(), options.to_json());
  return trainer.run(hooks);
}

}  // namespace ladder::pretrain
