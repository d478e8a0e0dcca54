#include "ladder/train/trainer.h"

#include "ladder/runtime/memory.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <sstream>

#include "ladder/error.h"
#include "ladder/train/evaluate.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/method_init.h"
#include "ladder/train/progress.h"
#include "ladder/train/schedule.h"
#include "ladder/train/task_data.h"

namespace ladder::train {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A loss this many times the first update's is divergence, whatever the method: a learning
// rate far too high sends T5's loss to 1e9 and beyond, then back to ln(vocabulary) once the
// weights are ruined, which a NaN check alone never sees.
constexpr double kDivergenceFactor = 100.0;

}  // namespace

Trainer::Trainer(FineTuningMethod& method, const TextTokenizer& tokenizer, TaskSpec task, TrainData data,
                 TrainOptions options, std::string run_dir, torch::Device device, dist::ProcessGroup* group)
    : method_(method),
      tokenizer_(tokenizer),
      task_(std::move(task)),
      data_(std::move(data)),
      options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      device_(device),
      optimizer_(method.named_trainable(), options_.adam),
      group_(group) {
  options_.validate();
  if (data_.train.empty()) throw UsageError("no training examples");
  if (data_.validation.size() != data_.validation_references.size())
    throw Error("trainer: validation examples and references differ in number");
  if (optimizer_.params().empty())
    throw UsageError("method " + method_.name() + " has no trainable parameters: nothing to train");
  if (distributed()) {
    if (options_.cache_backbone)
      throw UsageError("--cache-backbone is for one process: with " + std::to_string(group_->size()) +
                       " ranks each would cache the examples it sees in one folder (not supported yet); drop it or "
                       "train in one process");
    std::vector<torch::Tensor> trainable;
    for (const auto& [name, tensor] : optimizer_.params()) trainable.push_back(tensor);
    reducer_ = std::make_unique<dist::GradientReducer>(*group_, std::move(trainable));
  }
  state_.total_steps = total_steps();
  state_.seed = options_.seed;
  state_.data_seed = options_.data_seed;
  if (options_.max_new_tokens > 0) {
    max_new_tokens_ = options_.max_new_tokens;
  } else if (!task_labels(task_).empty()) {
    max_new_tokens_ = max_new_tokens_for(tokenizer_, task_labels(task_));
  } else {  // free text: the longest training target, </s> included
    for (const auto& e : data_.train) {
      max_new_tokens_ = std::max<int64_t>(max_new_tokens_, e.target.size());
      for (const auto& answer : e.answer_targets) max_new_tokens_ = std::max<int64_t>(max_new_tokens_, answer.size());
    }
  }
}

double Trainer::epochs_done() const {
  const double batches = static_cast<double>((data_.train.size() + options_.batch_size - 1) / options_.batch_size);
  return static_cast<double>(state_.epoch) + static_cast<double>(state_.batch_in_epoch) / batches;
}

int64_t Trainer::steps_per_epoch() const {
  const int64_t n = static_cast<int64_t>(data_.train.size());
  const int64_t batches = (n + options_.batch_size - 1) / options_.batch_size;
  return (batches + options_.grad_accum - 1) / options_.grad_accum;
}

int64_t Trainer::total_steps() const {
  return options_.max_steps > 0 ? options_.max_steps : options_.epochs * steps_per_epoch();
}

void Trainer::restore(const std::string& checkpoint_dir, bool longer) {
  TrainingState state = load_training_state(checkpoint_dir);
  if (longer && state.total_steps != total_steps()) {
    if (total_steps() <= state.global_step)
      throw UsageError(checkpoint_dir + ": the run is at update " + std::to_string(state.global_step) +
                       "; a longer run needs more than that (it would have " + std::to_string(total_steps()) + ")");
    check_state_fits_the_run(state, checkpoint_dir + "/training_state.json");  // as recorded, then lengthened
    state.total_steps = total_steps();
    state.finished = false;
  }
  if (state.total_steps != total_steps())
    throw LoadError(checkpoint_dir + ": " + expected_found("total updates", std::to_string(total_steps()),
                                                           std::to_string(state.total_steps),
                                                           "the data or the settings changed since the run started"));
  check_state_fits_the_run(state, checkpoint_dir + "/training_state.json");
  load_optimizer(checkpoint_dir, optimizer_);
  const fs::path metrics_path = fs::path(run_dir_) / "metrics.json";
  if (state.evaluations.is_null()) {
    // A checkpoint from before the evaluations were committed with it: take metrics.json's
    // records up to the checkpoint (later ones were written after it: the resumed run redoes them).
    state.evaluations = nlohmann::json::array();
    if (fs::exists(metrics_path))
      for (const auto& e : read_json_file(metrics_path.string()).value("evaluations", nlohmann::json::array()))
        if (e.value("step", int64_t{0}) <= state.global_step) state.evaluations.push_back(e);
  }
  state_ = state;
  evaluations_ = state_.evaluations;
  if (writes_files()) truncate_jsonl_after((fs::path(run_dir_) / "log.jsonl").string(), state_.global_step);
  // metrics.json says what the checkpoint holds, even if a kill came before it was rewritten.
  write_metrics();
}

void Trainer::check_state_fits_the_run(const TrainingState& state, const std::string& source) const {
  const BatchingOptions batching{options_.batch_size, options_.bucket_by_length, 50};
  const int64_t batches = static_cast<int64_t>(epoch_batches(data_.train, batching, options_.data_seed, state.epoch).size());
  const int64_t per_update = options_.batch_size * options_.grad_accum;
  std::string problem;
  if (state.seed != options_.seed || state.data_seed != options_.data_seed)
    problem = "its seeds (" + std::to_string(state.seed) + ", " + std::to_string(state.data_seed) + ") are not the run's (" +
              std::to_string(options_.seed) + ", " + std::to_string(options_.data_seed) + ")";
  else if (state.batch_in_epoch >= batches)
    problem = "batch_in_epoch " + std::to_string(state.batch_in_epoch) + " is past the epoch's " + std::to_string(batches) +
              " batches";
  else if (state.epoch > state.global_step)
    problem = "epoch " + std::to_string(state.epoch) + " after only " + std::to_string(state.global_step) + " updates";
  else if (state.examples_seen > state.global_step * per_update)
    problem = "examples_seen " + std::to_string(state.examples_seen) + " exceeds " + std::to_string(state.global_step) +
              " updates of at most " + std::to_string(per_update);
  else if (state.interval_updates > options_.log_every)
    problem = "interval_updates " + std::to_string(state.interval_updates) + " exceeds the log interval " +
              std::to_string(options_.log_every);
  else if (state.finished != (state.global_step == state.total_steps))
    problem = std::string("finished is ") + (state.finished ? "true" : "false") + " at update " +
              std::to_string(state.global_step) + " of " + std::to_string(state.total_steps);
  if (state.evaluations.is_array())
    for (const auto& e : state.evaluations)
      if (problem.empty() && e["step"].get<int64_t>() > state.global_step)
        problem = "an evaluation at update " + std::to_string(e["step"].get<int64_t>()) + " after the checkpoint's " +
                  std::to_string(state.global_step);
  if (!problem.empty())
    throw FormatError(source + ": does not fit this run: " + problem + " (edited or from another run?)");
}

void Trainer::check_settings() const {
  if (method_.init_examples_needed() > 0 && state_.side_init_done.empty())
    if (const std::string why = method_.why_init_refused(); !why.empty()) throw UsageError(why);
  if (!options_.cache_backbone) return;
  if (const std::string why = method_.why_backbone_not_cacheable(); !why.empty())
    throw UsageError("--cache-backbone: " + why);
  // The backbone decoder reads the target: one cached state per example needs one target.
  if (task_.is_vl() && task_.answer_targets == "sample")
    for (const auto& e : data_.train)
      if (e.answer_targets.size() > 1)
        throw UsageError("--cache-backbone: VQA/GQA targets are drawn each epoch from the answer scores, and the "
                         "backbone decoder's states depend on the target; train on the top answer "
                         "(--answer-targets top) to cache them");
}

void Trainer::initialize_side_if_needed(const TrainerHooks& hooks) {
  std::ostream* log = writes_files() ? hooks.progress : nullptr;
  if (method_.init_examples_needed() == 0 || !state_.side_init_done.empty()) return;
  const auto start = Clock::now();
  // Fisher runs the backbone forward and backward once per example (minutes for a large
  // model): a line every few seconds, and a stop signal honoured between examples. A
  // data-parallel run only stops where its ranks agree (after an update), so it finishes first.
  if (log)
    *log << "init: " << method_.name() << " side network from "
         << std::min<int64_t>(method_.init_examples_needed(), static_cast<int64_t>(data_.train.size()))
         << " training examples (Fisher: the backbone forward and backward once each; Ctrl-C stops it)\n";
  auto last_line = start;
  auto on_example = [&](std::size_t done, std::size_t total) {
    if (hooks.stop && !distributed())
      if (const int signal = hooks.stop(state_.global_step); signal != 0)
        throw TrainingInterrupted(signal, "training interrupted by signal " + std::to_string(signal) +
                                              " during the side network's initialisation (" + std::to_string(done) +
                                              " of " + std::to_string(total) +
                                              " examples); nothing was trained or saved");
    if (log && done < total && seconds_since(last_line) >= 5) {
      last_line = Clock::now();
      const double elapsed = seconds_since(start);
      *log << "init: " << done << "/" << total << " examples | " << format_duration(elapsed) << " | eta "
           << format_duration(elapsed / static_cast<double>(done) * static_cast<double>(total - done)) << "\n";
    }
  };
  const std::string done = initialize_from_training_data(method_, data_.train, options_.seed, device_,
                                                         distributed() ? group_ : nullptr, on_example);
  state_.side_init_done = "fisher";
  // The initialisation (Fisher) backpropagates through the whole backbone once; the training
  // peaks reported from here on are the method's own.
  if (device_.is_cuda()) runtime::cuda_reset_peak();
  else runtime::reset_peak_rss();
  if (log) *log << done << " in " << format_duration(seconds_since(start)) << "\n";
  // Recorded at once, so that a resumed run never recomputes it.
  save_last();
}

void Trainer::open_backbone_cache(std::ostream* log) {
  if (!options_.cache_backbone || cache_) return;
  if (const std::string why = method_.why_backbone_not_cacheable(); !why.empty())
    throw UsageError("--cache-backbone: " + why);
  StateCacheOptions options{options_.cache_dir.empty() ? (fs::path(run_dir_) / "backbone-cache").string() : options_.cache_dir,
                            options_.cache_dtype, options_.cache_memory_bytes};
  const nlohmann::json method_identity = method_.backbone_states_identity();
  const nlohmann::json identity = {{"backbone_weights", weights_checksum(*method_.backbone())},
                                   {"backbone_architecture", method_.backbone_checksum()},
                                   {"method", method_.name()},
                                   {"method_states", method_identity},
                                   {"task", task_.task}};
  const StateLayout layout{static_cast<int64_t>(method_identity.at("encoder_layers").size()),
                           static_cast<int64_t>(method_identity.at("decoder_layers").size()), method_.config().d_model};
  cache_ = std::make_unique<BackboneStateCache>(options, identity, layout, data_.train);
  if (log) *log << cache_->describe() << "\n";
  release_backbone_if_cached(log);
}

void Trainer::release_backbone_if_cached(std::ostream* log) {
  if (!options_.cache_release_backbone || method_.backbone_blocks_released() || !cache_->complete()) return;
  const int64_t freed = method_.release_backbone_blocks(cache_->folder() + "/backbone-blocks.safetensors");
  if (log)
    *log << "backbone cache: every training example is cached; released the backbone's blocks ("
         << runtime::format_bytes(freed) << ") for the training steps\n";
}

Seq2SeqOutput Trainer::forward_batch(const std::vector<std::size_t>& indices, const Seq2SeqBatch& batch) {
  if (!cache_) return method_.forward(batch);
  const int64_t n = static_cast<int64_t>(indices.size());
  if (std::optional<LadderStates> states = cache_->lookup(indices, device_)) {
    cache_hits_ += n;
    return method_.forward_from_states(batch, *states);
  }
  cache_misses_ += n;
  // An entry found damaged only now (its checksum is checked when read) after the blocks were
  // released as if everything were cached: bring them back to recompute it.
  if (method_.backbone_blocks_released()) method_.restore_backbone_blocks();
  LadderStates computed = method_.backbone_states(batch);
  cache_->store(indices, computed);
  release_backbone_if_cached(log_);
  // What later epochs will read (rounded to the cache's dtype), so every epoch sees the same
  // states; the states as computed only when the store could not keep them (read-only).
  std::optional<LadderStates> stored = cache_->lookup(indices, device_);
  return method_.forward_from_states(batch, stored ? *stored : computed);
}

void Trainer::save_last() {
  state_.evaluations = evaluations_;
  if (!writes_files()) return;
  save_checkpoint((fs::path(run_dir_) / "last").string(), method_, state_, &optimizer_);
}

std::string Trainer::on_disk() const {
  const fs::path last = fs::path(run_dir_) / "last", best = fs::path(run_dir_) / "best";
  std::string where;
  try {
    where = "last/ holds update " + std::to_string(load_training_state(checkpoint_path(last.string())).global_step);
  } catch (const Error&) {
    where = "no last/ checkpoint yet";
  }
  try {
    where += ", best/ update " + std::to_string(load_training_state(checkpoint_path(best.string())).global_step);
  } catch (const Error&) {
    where += ", no best/";
  }
  return where;
}

void Trainer::write_metrics() {
  if (writes_files()) write_json_atomically((fs::path(run_dir_) / "metrics.json").string(), metrics_json());
}

nlohmann::json Trainer::metrics_json() const {
  nlohmann::json best, last;
  for (const auto& e : evaluations_) {
    if (e.value("step", int64_t{-1}) == state_.best_step) best = e;
    last = e;
  }
  nlohmann::json metrics = {{"task", task_.task},         {"split", "validation"},
                            {"global_step", state_.global_step}, {"total_steps", state_.total_steps},
                            {"finished", state_.finished}, {"best", best},
                            {"last", last},               {"evaluations", evaluations_},
                            // What a comparison of methods needs next to the scores.
                            {"trainable_parameters", method_.trainable_count()},
                            {"backbone_parameters", method_.backbone_count()},
                            {"peak_bytes", peak_memory_bytes(device_)},
                            {"device", device_.str()}};
  if (distributed()) metrics["ranks"] = group_->size();
  return metrics;
}

nlohmann::json Trainer::evaluate_now() {
  // Decoding runs the backbone: its blocks come back from the cache folder for the evaluation.
  const bool released = method_.backbone_blocks_released();
  if (released) method_.restore_backbone_blocks();
  check_ranks_agree();
  Evaluation e;
  if (task_.scored_by_loss()) {
    // Every rank computes the whole (cheap, teacher-forced) loss: the same number everywhere.
    DecodeOptions options;
    options.batch_size = options_.eval_batch_size > 0 ? options_.eval_batch_size : options_.batch_size;
    options.device = device_;
    e.metrics = evaluate_loss(method_, data_.validation, options);
  } else {
    e.predictions = validation_predictions();
    e.metrics = score_evaluation(task_, e.predictions, data_.validation_references, &data_.validation_truth);
  }
  nlohmann::json record = {{"type", "eval"},
                           {"step", state_.global_step},
                           {"epoch", epochs_done()},
                           {"split", "validation"},
                           {"examples", data_.validation.size()},
                           {"metrics", e.metrics}};
  evaluations_.push_back(record);
  if (writes_files()) append_jsonl((fs::path(run_dir_) / "log.jsonl").string(), record);
  if (released) method_.release_backbone_blocks(cache_->folder() + "/backbone-blocks.safetensors");
  const double score = e.metrics.at("score");
  if (score > state_.best_score) {
    state_.best_score = score;
    state_.best_step = state_.global_step;
    if (writes_files()) save_checkpoint((fs::path(run_dir_) / "best").string(), method_, state_, nullptr);
  }
  return record;
}

TrainResult Trainer::run(const TrainerHooks& hooks) {
  if (writes_files()) fs::create_directories(run_dir_);
  std::ostream* log = writes_files() ? hooks.progress : nullptr;
  log_ = log;
  const int64_t total = total_steps();
  Schedule schedule{options_.schedule, options_.learning_rate, options_.warmup_for(total), total};
  schedule.validate();
  if (log) {
    const int64_t trainable = method_.trainable_count();
    *log << "train: " << method_.name() << ", " << trainable << " trainable parameters ("
         << 100.0 * static_cast<double>(trainable) / static_cast<double>(std::max<int64_t>(1, method_.backbone_count()))
         << "% of the backbone), " << data_.train.size() << " examples, " << steps_per_epoch() << " updates/epoch, "
         << total << " updates, warmup " << schedule.warmup_steps << ", lr " << options_.learning_rate
         << (state_.global_step > 0 ? ", resuming at update " + std::to_string(state_.global_step) : std::string())
         << (distributed() ? ", " + std::to_string(group_->size()) + " ranks (" + group_->backend() + ", " +
                                 runtime::format_bytes(reducer_->gradient_bytes()) + " all-reduced per update in " +
                                 std::to_string(reducer_->buckets()) + " bucket" + (reducer_->buckets() > 1 ? "s" : "") + ")"
                           : std::string())
         << "\n";
    // The authors' fixed 500 warmup updates outlast a short run, which then ends before its
    // learning rate reaches --lr: said loudly, with what to pass.
    if (schedule.warmup_steps >= total && total > 1 && state_.global_step == 0)
      *log << "train: WARNING: warmup " << schedule.warmup_steps << " is not shorter than the run's " << total
           << " updates, so the learning rate never reaches " << options_.learning_rate
           << (options_.schedule == "linear" ? " and the run ends in warmup" : "") << "; pass --warmup-steps "
           << std::max<int64_t>(1, total / 10) << " (a tenth of the run) or --warmup-ratio 0.1\n";
  }
  // Before the Fisher initialisation spends its minutes.
  check_settings();
  initialize_side_if_needed(hooks);
  open_backbone_cache(log);

  const BatchingOptions batching{options_.batch_size, options_.bucket_by_length, 50};
  auto plan = epoch_batches(data_.train, batching, options_.data_seed, state_.epoch);
  const int64_t pad = method_.backbone_handle().padding_id();
  const bool decoder_only = method_.backbone_handle().is_causal_lm();
  double interval_seconds = 0;  // training time only (evaluation excluded); not kept across a resume
  double session_seconds = 0;
  int64_t session_updates = 0;
  while (state_.global_step < total) {
    // Every rank stops at the same update: a signal any of them received, agreed on in the
    // last update's all-reduce.
    const int local_signal = hooks.stop ? hooks.stop(state_.global_step) : 0;
    if (hooks.stop || distributed()) {
      if (int signal = distributed() ? stop_agreed_ : local_signal; signal != 0) {
        save_last();
        write_metrics();
        throw TrainingInterrupted(signal, "training interrupted by signal " + std::to_string(signal) + " at update " +
                                              std::to_string(state_.global_step) + "; saved " +
                                              (fs::path(run_dir_) / "last").string());
      }
    }
    const auto start = Clock::now();
    // Dropout depends on the update number only, so a resumed run draws the same masks; a
    // hash of (seed, update), so that seed s at update t never replays seed s+1 at t-1.
    uint64_t dropout_seed = mix_seed(options_.seed, state_.global_step, kDropoutSeedPurpose);
    // Other ranks draw other masks for their rows; rank 0 draws a single process's.
    if (distributed() && group_->rank() > 0) dropout_seed = mix_seed(dropout_seed, group_->rank(), kRankSeedPurpose);
    torch::manual_seed(dropout_seed);
    method_.set_training(true);
    const int64_t micro = std::min<int64_t>(options_.grad_accum, static_cast<int64_t>(plan.size()) - state_.batch_in_epoch);
    double loss = 0;
    CollateOptions collate_options;
    collate_options.visual = data_.visual.get();
    collate_options.decoder_only = decoder_only;
    // The epoch's draw of VQA/GQA answers (the authors' multinomial), the same on a resume.
    if (task_.is_vl() && task_.answer_targets == "sample")
      collate_options.answer_seed = mix_seed(options_.data_seed, state_.epoch, kAnswerSeedPurpose);
    int64_t tokens = 0;
    for (int64_t i = 0; i < micro; ++i) {
      const auto& indices = plan[static_cast<std::size_t>(state_.batch_in_epoch + i)];
      state_.examples_seen += static_cast<int64_t>(indices.size());
      std::vector<std::size_t> mine = indices;
      int64_t global_targets = 0;
      if (distributed()) {
        const auto [begin, end] = dist::shard_range(indices.size(), group_->rank(), group_->size());
        mine.assign(indices.begin() + static_cast<std::ptrdiff_t>(begin), indices.begin() + static_cast<std::ptrdiff_t>(end));
        // The loss is a mean over the global batch's target tokens: every rank counts them
        // (labels only, no features) to weigh its own part.
        CollateOptions labels_only = collate_options;
        labels_only.visual = nullptr;
        global_targets = collate(data_.train, indices, pad, labels_only).labels.ne(-100).sum().item<int64_t>();
      }
      if (mine.empty()) continue;  // fewer examples than ranks: this rank adds zeros
      Seq2SeqBatch batch = collate(data_.train, mine, pad, collate_options);
      tokens += count_tokens(batch, decoder_only);
      const double share = distributed() ? static_cast<double>(batch.labels.ne(-100).sum().item<int64_t>()) /
                                               static_cast<double>(std::max<int64_t>(1, global_targets))
                                         : 1.0;
      Seq2SeqOutput out = forward_batch(mine, batch_to(batch, device_));
      (out.loss * (share / static_cast<double>(micro))).backward();
      loss += out.loss.item<double>() * share / static_cast<double>(micro);
    }
    if (reducer_) {
      const std::vector<double> sums =
          reducer_->reduce({loss, static_cast<double>(tokens), local_signal != 0 ? 1.0 : 0.0, static_cast<double>(local_signal)},
                           "the gradient all-reduce of update " + std::to_string(state_.global_step + 1));
      loss = sums[0];
      tokens = static_cast<int64_t>(std::llround(sums[1]));
      stop_agreed_ = sums[2] > 0 ? static_cast<int>(std::lround(sums[3] / sums[2])) : 0;
    }
    state_.interval_tokens += tokens;
    const double grad_norm = clip_grad_norm(optimizer_.params(), options_.max_grad_norm);
    if (state_.global_step == 0 || state_.first_loss == 0) state_.first_loss = loss;
    const bool exploded = std::isfinite(loss) && std::isfinite(state_.first_loss) && state_.first_loss > 0 &&
                          loss > kDivergenceFactor * state_.first_loss;
    // Weights blown up far enough saturate every unit: the model then predicts a constant, the
    // loss sits at ln(vocabulary) and not one gradient is left. At a loss above 0 that is collapse.
    const bool dead = grad_norm == 0.0 && loss > 0.0;
    if (!std::isfinite(loss) || !std::isfinite(grad_norm) || exploded || dead) {
      std::ostringstream what;
      what << "training diverged at update " << state_.global_step + 1 << ": loss " << loss;
      if (exploded) what << " (more than " << kDivergenceFactor << "x the first update's " << state_.first_loss << ")";
      if (dead) what << " with every gradient exactly zero (saturated weights: the model predicts a constant)";
      what << ", gradient norm " << grad_norm << "; this update was not applied and nothing of it was saved; on disk: "
           << on_disk() << ". Lower the learning rate (--lr " << options_.learning_rate << " now) and start again.";
      throw Error(what.str());
    }
    const double lr = schedule.lr_at(state_.global_step);
    optimizer_.step(lr);
    optimizer_.zero_grad();
    state_.batch_in_epoch += micro;
    state_.global_step += 1;
    const bool epoch_end = state_.batch_in_epoch >= static_cast<int64_t>(plan.size());
    if (epoch_end) {
      state_.epoch += 1;
      state_.batch_in_epoch = 0;
      plan = epoch_batches(data_.train, batching, options_.data_seed, state_.epoch);
    }
    const double seconds = seconds_since(start);
    state_.interval_loss_sum += loss;
    state_.interval_updates += 1;
    interval_seconds += seconds;
    session_seconds += seconds;
    session_updates += 1;

    const bool last_update = state_.global_step == total;
    if (state_.global_step % options_.log_every == 0 || last_update) {
      ProgressRecord record;
      record.step = state_.global_step;
      record.total_steps = total;
      record.epoch = epochs_done();
      record.loss = state_.interval_loss_sum / static_cast<double>(state_.interval_updates);
      record.lr = lr;
      record.grad_norm = grad_norm;
      record.tokens_per_second = interval_seconds > 0 ? static_cast<double>(state_.interval_tokens) / interval_seconds : 0;
      record.eta_seconds = session_seconds / static_cast<double>(session_updates) * static_cast<double>(total - state_.global_step);
      record.peak_bytes = peak_memory_bytes(device_);
      if (cache_) {
        const int64_t seen = cache_hits_ + cache_misses_;
        record.cache_hit_rate = seen > 0 ? static_cast<double>(cache_hits_) / static_cast<double>(seen) : 0.0;
        cache_hits_ = cache_misses_ = 0;
      }
      if (log) *log << format_progress_line(record) << std::endl;
      if (writes_files()) append_jsonl((fs::path(run_dir_) / "log.jsonl").string(), progress_json(record));
      state_.interval_loss_sum = 0;
      state_.interval_updates = 0;
      state_.interval_tokens = 0;
      interval_seconds = 0;
    }
    const bool evaluate_here = options_.eval_every > 0 ? state_.global_step % options_.eval_every == 0 : epoch_end;
    if (last_update) state_.finished = true;
    if ((evaluate_here || last_update) && !data_.validation.empty()) {
      nlohmann::json record = evaluate_now();
      if (log) {
        *log << "eval step " << state_.global_step << " | validation";
        std::string predicted;  // the shares of each predicted label, on one field
        for (const auto& [key, value] : record["metrics"].items()) {
          if (key.rfind(kPredictedSharePrefix, 0) == 0) {
            char share[32];
            std::snprintf(share, sizeof share, " %.2f", value.get<double>());
            predicted += (predicted.empty() ? "" : ",") + (" " + key.substr(std::strlen(kPredictedSharePrefix))) + share;
          } else {
            *log << " | " << key << " " << value.get<double>();
          }
        }
        if (!predicted.empty()) *log << " | predicted" << predicted;
        *log << " | best " << state_.best_score << " (step " << state_.best_step << ")" << std::endl;
      }
      save_last();
      write_metrics();
    } else if (last_update) {
      save_last();
      write_metrics();
    }
  }
  if (cache_ && log) *log << cache_->describe() << "\n";
  check_ranks_agree();
  // Also covers resuming a run that had already finished (the loop did nothing).
  write_metrics();
  // Rank 0 may host the store: nobody leaves while another still needs it.
  if (distributed()) group_->barrier("the end of training");
  TrainResult result;
  result.state = state_;
  result.metrics = metrics_json();
  return result;
}

}  // namespace ladder::train
