// Training: schedule values, batching, AdamW against torch's, checkpoints, exact resumption for
// every method, end to end on a GLUE slice (library and CLI), SIGTERM through the CLI, custom data.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "ladder/data/glue.h"
#include "ladder/error.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/runtime/blas_kernels.h"
#include "ladder/tokenizer/t5_tokenizer.h"
#include "ladder/train/batching.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/evaluate.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/progress.h"
#include "ladder/train/run.h"
#include "ladder/train/run_lock.h"
#include "ladder/train/schedule.h"
#include "test_util.h"

namespace ladder::train {
namespace {
namespace fs = std::filesystem;

using test::TempDir;

// One thread: the tiny model is fastest that way, and build machines are busy.
class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = at::get_num_threads();
    at::set_num_threads(1);
  }
  void TearDown() override { at::set_num_threads(threads_); }
  int threads_ = 1;
};

std::string tiny_model() { return test::fixture_dir("t5-tiny-v1_0"); }
std::string tokenizer_path() { return test::fixture_dir("tiny-tokenizer") + "/spiece.model"; }
std::string samples_dir() { return std::string(LADDER_TEST_DATA) + "/glue_samples"; }

// The real GLUE data in ../shared (CI has it).
std::string shared_glue_dir() { return std::string(LADDER_SHARED_DIR) + "/data/glue"; }

// For the CLI plumbing tests, which need some RTE rows but no learning: real RTE when present,
// else the hand-written samples (3 training rows).
std::string rte_data_dir() {
  return fs::exists(shared_glue_dir() + "/RTE/train.tsv") ? shared_glue_dir() : samples_dir();
}

// The tiny fixture with dropout 0.1 (the fixture has none), so that a resumed run must
// reproduce the dropout masks too.
std::string model_with_dropout(const TempDir& dir) {
  const fs::path out = dir.path() / "model";
  fs::create_directories(out);
  fs::copy_file(tiny_model() + "/model.safetensors", out / "model.safetensors");
  nlohmann::json config = read_json_file(tiny_model() + "/config.json");
  config["dropout_rate"] = 0.1;
  std::ofstream(out / "config.json") << config.dump(2);
  return out.string();
}

torch::Tensor ids(std::vector<int64_t> values, int64_t rows, int64_t cols) {
  return torch::tensor(values, torch::kLong).view({rows, cols});
}

std::vector<nlohmann::json> read_jsonl(const std::string& path, const std::string& type) {
  std::vector<nlohmann::json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json record = nlohmann::json::parse(line);
    if (record.value("type", "") == type) records.push_back(record);
  }
  return records;
}

TEST(TrainSchedule, LinearWarmupThenDecay) {
  const Schedule s{"linear", 1.0, 10, 110};
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);  // transformers' first update, with warmup
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(60), 0.5);  // (110 - 60) / (110 - 10)
  EXPECT_DOUBLE_EQ(s.lr_at(109), 0.01);
  EXPECT_DOUBLE_EQ(s.lr_at(110), 0.0);
}

TEST(TrainSchedule, ConstantAndNoWarmup) {
  const Schedule constant{"constant", 0.3, 4, 100};
  EXPECT_DOUBLE_EQ(constant.lr_at(2), 0.15);
  EXPECT_DOUBLE_EQ(constant.lr_at(4), 0.3);
  EXPECT_DOUBLE_EQ(constant.lr_at(99), 0.3);
  const Schedule linear{"linear", 2.0, 0, 4};
  EXPECT_DOUBLE_EQ(linear.lr_at(0), 2.0);
  EXPECT_DOUBLE_EQ(linear.lr_at(1), 1.5);
  EXPECT_DOUBLE_EQ(linear.lr_at(3), 0.5);
  EXPECT_THROW((Schedule{"cosine", 1.0, 0, 10}.validate()), UsageError);
}

TEST(TrainSchedule, DefaultWarmupIsTheAuthorsFixed500) {
  // configs/side_transformers.json: 500 warmup updates for every task, even a shorter run.
  EXPECT_EQ(resolve_warmup_steps(-1, 100000), 500);
  EXPECT_EQ(resolve_warmup_steps(-1, 500), 500);
  EXPECT_EQ(resolve_warmup_steps(-1, 5), 500);
  EXPECT_EQ(resolve_warmup_steps(7, 500), 7);  // given explicitly: as given
  EXPECT_EQ(resolve_warmup_steps(0, 500), 0);
}

TEST(TrainBatching, PadsEachBatchToItsLongestRowAndMasks) {
  const std::vector<TokenizedExample> examples = {{{5, 6, 1}, {7, 1}}, {{5, 1}, {8, 9, 10, 1}}, {{4, 4, 4, 4, 1}, {1}}};
  Seq2SeqBatch all = collate(examples, {0, 1, 2}, 0);
  EXPECT_TRUE(torch::equal(all.input_ids, ids({5, 6, 1, 0, 0, 5, 1, 0, 0, 0, 4, 4, 4, 4, 1}, 3, 5)));
  EXPECT_TRUE(torch::equal(all.attention_mask, ids({1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1}, 3, 5)));
  EXPECT_TRUE(torch::equal(all.labels, ids({7, 1, -100, -100, 8, 9, 10, 1, 1, -100, -100, -100}, 3, 4)));
  Seq2SeqBatch two = collate(examples, {1, 0}, 0);  // padded to these rows only
  EXPECT_TRUE(torch::equal(two.input_ids, ids({5, 1, 0, 5, 6, 1}, 2, 3)));
  EXPECT_TRUE(torch::equal(two.labels, ids({8, 9, 10, 1, 7, 1, -100, -100}, 2, 4)));
  EXPECT_EQ(count_tokens(two), 5 + 6);
  EXPECT_FALSE(collate(examples, {2}, 0, false).labels.defined());
}

TEST(TrainBatching, EpochOrderIsSeededCompleteAndBucketed) {
  std::vector<TokenizedExample> examples;
  for (int i = 0; i < 12; ++i) examples.push_back({std::vector<int64_t>(static_cast<std::size_t>(i + 1), 3), {1}});
  const BatchingOptions plain{5, false, 50};
  auto e0 = epoch_batches(examples, plain, 7, 0);
  ASSERT_EQ(e0.size(), 3u);
  EXPECT_EQ(e0[2].size(), 2u);
  std::multiset<std::size_t> seen;
  for (const auto& b : e0) seen.insert(b.begin(), b.end());
  EXPECT_EQ(seen, (std::multiset<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(epoch_batches(examples, plain, 7, 0), e0);
  EXPECT_NE(epoch_batches(examples, plain, 7, 1), e0);
  EXPECT_NE(epoch_batches(examples, plain, 8, 0), e0);
  // One pool holding everything: batches are runs of consecutive lengths.
  const auto bucketed = epoch_batches(examples, BatchingOptions{3, true, 10}, 7, 0);
  ASSERT_EQ(bucketed.size(), 4u);
  for (const auto& b : bucketed) {
    ASSERT_EQ(b.size(), 3u);
    std::size_t lo = 100, hi = 0;
    for (std::size_t i : b) lo = std::min(lo, examples[i].source.size()), hi = std::max(hi, examples[i].source.size());
    EXPECT_EQ(hi - lo, 2u);
  }
}

TEST(TrainOptimizer, MatchesTorchAdamW) {
  torch::manual_seed(3);
  torch::Tensor ours_w = torch::randn({4, 3}).requires_grad_();
  torch::Tensor theirs_w = ours_w.detach().clone().requires_grad_();
  AdamW ours({{"w", ours_w}}, AdamWOptions{0.9, 0.999, 1e-8, 0.01});
  torch::optim::AdamW theirs({theirs_w}, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  for (int step = 0; step < 5; ++step) {
    torch::Tensor grad = torch::randn({4, 3});
    ours_w.mutable_grad() = grad.clone();
    theirs_w.mutable_grad() = grad.clone();
    const double lr = 1e-2 * (step + 1);
    static_cast<torch::optim::AdamWOptions&>(theirs.param_groups()[0].options()).lr(lr);
    ours.step(lr);
    theirs.step();
  }
  EXPECT_LT(test::max_abs_diff(ours_w, theirs_w), 1e-6);
  EXPECT_GT(test::max_abs_diff(ours_w, torch::zeros({4, 3})), 0.1);
}

TEST(TrainOptimizer, SavedStateContinuesExactly) {
  torch::manual_seed(4);
  torch::Tensor a = torch::randn({5}).requires_grad_(), b = torch::randn({2, 2}).requires_grad_();
  AdamW first({{"a", a}, {"b", b}});
  std::vector<torch::Tensor> grads;
  for (int i = 0; i < 5; ++i) grads.push_back(torch::randn({9}));
  auto apply = [&](AdamW& opt, torch::Tensor& x, torch::Tensor& y, int i) {
    x.mutable_grad() = grads[i].narrow(0, 0, 5).clone();
    y.mutable_grad() = grads[i].narrow(0, 5, 4).view({2, 2}).clone();
    opt.step(1e-2);
    opt.zero_grad();
  };
  for (int i = 0; i < 3; ++i) apply(first, a, b, i);
  auto tensors = first.state_tensors();
  EXPECT_EQ(tensors.size(), 4u);
  EXPECT_TRUE(tensors.count("exp_avg.a") && tensors.count("exp_avg_sq.b"));
  torch::Tensor a2 = a.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  AdamW second({{"a", a2}, {"b", b2}});
  second.load_state(tensors, first.step_counts(), "memory");
  for (int i = 3; i < 5; ++i) {
    apply(first, a, b, i);
    apply(second, a2, b2, i);
  }
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_TRUE(torch::equal(b, b2));
  auto wrong = tensors;
  wrong["exp_avg.a"] = torch::zeros({4});
  EXPECT_THROW(second.load_state(wrong, first.step_counts(), "memory"), LoadError);
  EXPECT_THROW(second.load_state(tensors, {{"c", 1}, {"a", 3}, {"b", 3}}, "memory"), LoadError);
}

TEST(TrainOptimizer, ClipsTheGlobalNorm) {
  torch::Tensor x = torch::zeros({2}).requires_grad_();
  x.mutable_grad() = torch::tensor({3.0f, 4.0f});
  EXPECT_NEAR(clip_grad_norm({{"x", x}}, 10.0), 5.0, 1e-6);
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({3.0f, 4.0f})));
  EXPECT_NEAR(clip_grad_norm({{"x", x}}, 1.0), 5.0, 1e-6);
  EXPECT_LT(test::max_abs_diff(x.grad(), torch::tensor({0.6f, 0.8f})), 1e-6);
}

TEST(TrainProgress, LineFormat) {
  ProgressRecord r;
  r.step = 120, r.total_steps = 1000, r.epoch = 0.05, r.loss = 0.43124, r.lr = 2.9e-3;
  r.tokens_per_second = 1534.2, r.eta_seconds = 192, r.peak_bytes = 851758285;  // 812.3 MiB
  // Epochs done: a twentieth of the first, not "epoch 1".
  EXPECT_EQ(format_progress_line(r),
            "step 120/1000 | epoch 0.05 | loss 0.4312 | lr 2.9e-03 | 1534 tok/s | eta 3m12s | peak 812.3 MiB");
  r.epoch = 2, r.streamed = true;
  EXPECT_EQ(format_progress_line(r),
            "step 120/1000 | pass 2 | loss 0.4312 | lr 2.9e-03 | 1534 tok/s | eta 3m12s | peak 812.3 MiB");
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(3725), "1h02m");
}

TEST(TrainCheckpoint, StateRoundTripAndCrashRecovery) {
  TrainingState s;
  s.global_step = 7, s.total_steps = 20, s.epoch = 2, s.batch_in_epoch = 1, s.examples_seen = 70;
  s.seed = 3, s.data_seed = 18446744073709551615ull, s.side_init_done = "fisher";
  TrainingState back = TrainingState::from_json(s.to_json(), "memory");
  EXPECT_EQ(back.to_json(), s.to_json());
  EXPECT_EQ(back.data_seed, s.data_seed);
  EXPECT_TRUE(std::isinf(back.best_score) && back.best_step == -1);  // no best yet: null in JSON
  EXPECT_THROW(TrainingState::from_json({{"global_step", 1}}, "memory"), FormatError);

  TempDir dir;
  EXPECT_THROW(checkpoint_path(dir / "last"), LoadError);
  // A crash between the two renames leaves only last.old: it is what gets read.
  fs::create_directories(dir / "last.old");
  write_json_atomically(dir / "last.old/training_state.json", s.to_json());
  EXPECT_EQ(checkpoint_path(dir / "last"), dir / "last.old");
  EXPECT_EQ(load_training_state(dir / "last").global_step, 7);
  const std::string staged = staging_directory(dir / "last");
  s.global_step = 8;
  write_json_atomically(staged + "/training_state.json", s.to_json());
  replace_directory(staged, dir / "last");
  EXPECT_EQ(load_training_state(dir / "last").global_step, 8);
  EXPECT_FALSE(fs::exists(staged));
}

TEST(TrainTaskData, InputFormats) {
  TaskSpec rte;
  rte.task = "rte";
  EXPECT_EQ(format_input(rte, "A man sleeps.\tA person rests."), "rte sentence1: A man sleeps. sentence2: A person rests.");
  EXPECT_EQ(format_input(rte, "rte sentence1: x sentence2: y"), "rte sentence1: x sentence2: y");
  EXPECT_THROW(format_input(rte, "no tab here"), UsageError);
  TaskSpec sst2;
  sst2.task = "sst2";
  EXPECT_EQ(format_input(sst2, "a fine film"), "sst2 sentence: a fine film");
  TaskSpec nli;
  nli.task = "custom";
  nli.classification.text_field = "premise";
  nli.classification.text_pair_field = "hypothesis";
  nli.classification.prefix = "nli";
  EXPECT_EQ(format_input(nli, "A\tB"), "nli premise: A hypothesis: B");
}

RunConfig tiny_run(const std::string& model, const std::string& method) {
  RunConfig c;
  c.model = model;
  c.tokenizer = tokenizer_path();
  c.task.task = "rte";
  c.task.data = samples_dir();  // 3 training rows, 5 validation rows
  c.method = method;
  if (method == "lst") c.settings = {{"fisher_samples", 2}};
  c.train.learning_rate = default_learning_rate(method);
  c.train.batch_size = 1;
  c.train.grad_accum = 2;  // 3 micro-batches per epoch: updates of 2 and 1
  c.train.epochs = 4;      // 8 updates
  c.train.warmup_steps = 2;
  c.train.eval_every = 3;
  c.train.log_every = 1;
  c.train.seed = 5;
  c.train.data_seed = 7;
  return c;
}

class TrainResume : public TrainerTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(TrainResume, InterruptedAndResumedRunEqualsAStraightOne) {
  TempDir dir;
  const RunConfig config = tiny_run(model_with_dropout(dir), GetParam());
  const TrainResult straight = start_run(config, dir / "straight", {});
  EXPECT_EQ(straight.state.global_step, 8);
  EXPECT_TRUE(straight.state.finished);

  RunContext stopping;
  stopping.hooks.stop = [](int64_t step) { return step == 3 ? SIGTERM : 0; };  // mid-epoch
  try {
    start_run(config, dir / "resumed", stopping);
    FAIL() << "expected TrainingInterrupted";
  } catch (const TrainingInterrupted& e) {
    EXPECT_EQ(e.exit_code(), 143);
  }
  const TrainingState stopped = load_training_state(dir / "resumed/last");
  EXPECT_EQ(stopped.global_step, 3);
  EXPECT_EQ(stopped.epoch, 1);
  EXPECT_EQ(stopped.batch_in_epoch, 2);
  const TrainResult resumed = resume_run(dir / "resumed", {});
  EXPECT_EQ(resumed.state.global_step, 8);

  for (const char* file : {"last/adapter_model.safetensors", "best/adapter_model.safetensors", "last/optimizer.safetensors"}) {
    auto a = read_safetensors(dir / ("straight/" + std::string(file)));
    auto b = read_safetensors(dir / ("resumed/" + std::string(file)));
    ASSERT_EQ(a.size(), b.size()) << file;
    for (const auto& [name, tensor] : a) EXPECT_TRUE(torch::equal(tensor, b.at(name))) << file << ": " << name;
  }
  EXPECT_EQ(straight.metrics["evaluations"], resumed.metrics["evaluations"]);
  EXPECT_EQ(straight.metrics["evaluations"].size(), 3u);  // updates 3, 6, 8
  auto logged = read_jsonl(dir / "resumed/log.jsonl", "train");
  ASSERT_EQ(logged.size(), 8u);  // every update once
  EXPECT_EQ(logged[3]["loss"], read_jsonl(dir / "straight/log.jsonl", "train")[3]["loss"]);
}

INSTANTIATE_TEST_SUITE_P(Methods, TrainResume, ::testing::Values("lst", "lora", "adapter", "bitfit", "prompt", "full"),
                         [](const auto& info) { return info.param; });

TEST_F(TrainerTest, EndToEndOnAnRteSlice) {
  TempDir dir;
  RunConfig c;
  c.model = tiny_model();
  c.tokenizer = tokenizer_path();
  c.task.task = "rte";
  c.task.data = shared_glue_dir();
  ASSERT_TRUE(fs::exists(c.task.data + "/RTE/train.tsv")) << "the real RTE is missing: " << c.task.data;
  c.task.max_train_examples = 48;
  c.task.max_eval_examples = 16;
  c.settings = {{"fisher_samples", 8}};
  c.train.learning_rate = 3e-3;
  c.train.batch_size = 8;
  c.train.max_steps = 36;
  c.train.warmup_steps = 4;  // the authors' 500 would leave this short run in warmup
  c.train.log_every = 6;
  const TrainResult result = start_run(c, dir / "run", {});
  for (const char* file : {"run.json", "metrics.json", "log.jsonl", "best/adapter_config.json", "last/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(dir / ("run/" + std::string(file)))) << file;
  EXPECT_EQ(load_training_state(dir / "run/last").side_init_done, "fisher");
  auto losses = read_jsonl(dir / "run/log.jsonl", "train");
  ASSERT_EQ(losses.size(), 6u);
  EXPECT_LT(losses.back()["loss"].get<double>(), 0.9 * losses.front()["loss"].get<double>());
  ASSERT_TRUE(result.metrics["best"].is_object());
  double best = -1;
  for (const auto& e : result.metrics["evaluations"]) best = std::max(best, e["metrics"]["score"].get<double>());
  EXPECT_EQ(result.metrics["best"]["metrics"]["score"].get<double>(), best);
  // What the accuracy table reads next to the scores: counted independently here.
  {
    auto backbone = load_model(c.model).model;
    int64_t backbone_count = 0;
    for (const auto& p : backbone->parameters()) backbone_count += p.numel();
    EXPECT_EQ(result.metrics["backbone_parameters"].get<int64_t>(), backbone_count);
    const int64_t trainable = result.metrics["trainable_parameters"].get<int64_t>();
    EXPECT_GT(trainable, 0);
    EXPECT_LT(trainable, backbone_count / 2);  // LST trains a side network, never the backbone
    EXPECT_GT(result.metrics["peak_bytes"].get<int64_t>(), 0);
  }

  const RunConfig saved = load_run_config(dir / "run");
  EXPECT_EQ(saved.train.max_new_tokens,
            max_new_tokens_for(T5Tokenizer::load(tokenizer_path()), data::glue_task("rte").labels));
  // best/ holds the weights that scored best: re-evaluated on the same validation rows, with
  // the trainer's decoding options, they reproduce the recorded score exactly.
  const double recorded = result.metrics["best"]["metrics"]["score"].get<double>();
  EXPECT_EQ(load_training_state(dir / "run/best").best_score, recorded);
  LoadedMethod loaded = load_trained_method(saved.model, saved.tokenizer, dir / "run/best", "fp32", torch::kCPU);
  DecodeOptions decode;
  decode.max_new_tokens = saved.train.max_new_tokens;
  decode.batch_size = saved.train.eval_batch_size > 0 ? saved.train.eval_batch_size : saved.train.batch_size;
  nlohmann::json validation =
      evaluate_split(*loaded.method, *loaded.tokenizer, saved.task, "validation", saved.max_source_length, decode);
  EXPECT_EQ(validation["examples"].get<int64_t>(), 16);
  EXPECT_EQ(validation["metrics"]["score"].get<double>(), recorded) << validation.dump();
  nlohmann::json test =
      evaluate_split(*loaded.method, *loaded.tokenizer, saved.task, "test", saved.max_source_length, decode);
  EXPECT_EQ(test["split"], "test");
  EXPECT_EQ(test["examples"].get<int64_t>(), 16);  // max_eval_examples
  // RTE's 277 dev pairs: validation the first 138 after the seeded shuffle, test the other 139.
  TaskSpec whole = saved.task;
  whole.max_eval_examples = 0;
  EXPECT_EQ(load_split(whole, "validation").examples.size(), 138u);
  EXPECT_EQ(load_split(whole, "test").examples.size(), 139u);
  const double accuracy = test["metrics"]["accuracy"].get<double>();
  EXPECT_EQ(accuracy * 16, std::round(accuracy * 16)) << "accuracy " << accuracy << " is not k/16";
}

TEST_F(TrainerTest, CustomClassificationRecordsItsLabels) {
  TempDir dir;
  RunConfig c = tiny_run(tiny_model(), "lst");
  c.settings = {{"side_init", "random"}};
  c.task.task = "custom";
  c.task.data = std::string(LADDER_TEST_DATA) + "/trainer/sentiment.jsonl";
  c.task.classification.text_field = "review";
  c.task.classification.label_field = "sentiment";
  c.task.classification.prefix = "sentiment";
  c.train.max_steps = 3;
  start_run(c, dir / "run", {});
  const RunConfig saved = load_run_config(dir / "run");
  EXPECT_EQ(saved.task.classification.known_labels, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(load_split(saved.task, "validation").examples.size(), 2u);  // 20 rows: a tenth held out
  EXPECT_EQ(load_split(saved.task, "train").examples.size(), 18u);
  EXPECT_THROW(load_split(saved.task, "test"), UsageError);
  EXPECT_EQ(format_input(saved.task, "great"), "sentiment great");
  EXPECT_TRUE(read_json_file(dir / "run/metrics.json")["last"]["metrics"].contains("macro_f1"));
}

TEST_F(TrainerTest, RunDirectoryDecidesNewOrResume) {
  TempDir dir;
  const RunConfig c = tiny_run(tiny_model(), "bitfit");
  fs::create_directories(dir / "run");
  write_json_atomically(dir / "run/run.json", c.to_json());
  EXPECT_THROW(resume_run(dir / "nothing", {}), UsageError);  // no run.json
  // Killed before its first checkpoint (run.json, no last/): a resume starts it from the
  // beginning with its recorded settings, dropping what the killed process had logged.
  std::ofstream(dir / "run/log.jsonl") << "{\"type\":\"train\",\"step\":1,\"loss\":123.0}\n";
  const TrainResult restarted = resume_run(dir / "run", {});
  EXPECT_TRUE(restarted.state.finished);
  EXPECT_TRUE(fs::exists(dir / "run/last/adapter_model.safetensors"));
  EXPECT_THROW(start_run(c, dir / "run", {}), UsageError);  // a run with updates is never replaced
  const TrainResult straight = start_run(c, dir / "straight", {});
  const auto a = read_jsonl(dir / "run/log.jsonl", "train"), b = read_jsonl(dir / "straight/log.jsonl", "train");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << i;
  EXPECT_EQ(restarted.metrics["evaluations"], straight.metrics["evaluations"]);
}


// ---- the CLI binary ----

using test::CliResult;
using test::read_text;
using test::run_cli;

std::vector<std::string> cli_train_args(const std::string& run, const std::string& max_steps) {
  return {"train", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--task", "rte", "--data", rte_data_dir(),
          "--max-train-examples", "32", "--max-eval-examples", "8", "--batch-size", "8", "--max-steps", max_steps,
          "--out", run, "--threads", "1", "--settings", R"({"side_init": "random"})"};
}

TEST_F(TrainerTest, CliTrainEvalPredict) {
  TempDir dir;
  const std::string run = dir / "run";
  auto args = cli_train_args(run, "12");
  args.insert(args.end(), {"--log-every", "4"});
  CliResult train = run_cli(args, dir);
  ASSERT_EQ(train.status, 0) << train.err;
  EXPECT_EQ(nlohmann::json::parse(train.out)["global_step"], 12);
  const std::regex line(R"(step \d+/12 \| epoch \d+\.\d\d \| loss \d+\.\d{4} \| lr \d\.\de[-+]\d\d \| \d+ tok/s \| eta \S+ \| peak \d+\.\d [KMG]iB)");
  int progress_lines = 0;
  std::istringstream err(train.err);
  for (std::string l; std::getline(err, l);) progress_lines += std::regex_match(l, line);
  EXPECT_EQ(progress_lines, 3) << train.err;

  CliResult eval = run_cli({"eval", "--run", run, "--split", "test", "--threads", "1"}, dir);
  ASSERT_EQ(eval.status, 0) << eval.err;
  const nlohmann::json metrics = nlohmann::json::parse(eval.out);
  EXPECT_TRUE(metrics["metrics"].contains("score"));
  EXPECT_EQ(read_json_file(run + "/eval_test.json"), metrics);

  std::ofstream(dir / "inputs.txt") << "A man sleeps.\tA person rests.\n\nrte sentence1: x sentence2: y\n";
  CliResult predict = run_cli({"predict", "--run", run, "--input", dir / "inputs.txt", "--threads", "1"}, dir);
  ASSERT_EQ(predict.status, 0) << predict.err;
  EXPECT_EQ(std::count(predict.out.begin(), predict.out.end(), '\n'), 3);
  // Labels as RTE's data writes them; anything else is counted on stderr.
  std::istringstream lines(predict.out);
  int not_labels = 0, row = 0;
  for (std::string l; std::getline(lines, l); ++row)
    if (row != 1 && l != "entailment" && l != "not_entailment") ++not_labels;
  if (not_labels > 0)
    EXPECT_NE(predict.err.find(std::to_string(not_labels) + " of 2 outputs are no rte label"), std::string::npos) << predict.err;
  else
    EXPECT_EQ(predict.err.find("no rte label"), std::string::npos) << predict.err;
  CliResult bad = run_cli({"predict", "--run", run, "no tab"}, dir);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("tab"), std::string::npos);
}

// `ladder ARGS` in a child process, stdout and stderr into `log_path`, once `file` holds
// `text`; pid -1 (and the child killed) when it did not within 300 s.
pid_t start_in_background(std::vector<std::string> args, const std::string& log_path, const std::string& file,
                          const std::string& text) {
  args.insert(args.begin(), LADDER_CLI);
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(LADDER_CLI, argv.data());
    ::_exit(127);
  }
  // Generous: loading, tokenising and the first update on a busy build machine.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  // Text search: the line being written may still be incomplete.
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_text(file).find(text) != std::string::npos) return pid;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return -1;  // ended without it
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);  // do not leave a million-step run behind
  ::waitpid(pid, nullptr, 0);
  return -1;
}

// The same, for a long run into RUN, once it has logged a training update.
pid_t start_training_in_background(std::vector<std::string> args, const std::string& run, const std::string& log_path) {
  return start_in_background(std::move(args), log_path, run + "/log.jsonl", "\"type\":\"train\"");
}

TEST_F(TrainerTest, CliSigtermSavesLastAndExits143) {
  TempDir dir;
  const std::string run = dir / "run";
  auto args = cli_train_args(run, "1000000");
  args.insert(args.end(), {"--log-every", "1", "--eval-every", "1000000"});
  const pid_t pid = start_training_in_background(args, run, dir / "stderr");
  ASSERT_GT(pid, 0) << "no training step was logged within 300 s; output:\n" << read_text(dir / "stderr");
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(dir / "stderr");
  EXPECT_EQ(WEXITSTATUS(status), 143) << read_text(dir / "stderr");
  EXPECT_NE(read_text(dir / "stderr").find("--resume " + run), std::string::npos);
  const TrainingState state = load_training_state(run + "/last");
  EXPECT_GE(state.global_step, 1);
  EXPECT_FALSE(state.finished);
  LoadedMethod loaded = load_trained_method(tiny_model(), tokenizer_path(), run + "/last", "fp32", torch::kCPU);
  EXPECT_GT(loaded.method->trainable_count(), 0);
}

// LST's Fisher pass over the tiny fixture on 3,000 made-up RTE rows: a few milliseconds an
// example, so a stop between two examples comes at once even on a loaded machine, and seconds
// in all, so that the signal comes in the middle.
TEST(CliTrainSignals, SigintDuringFisherExitsAtOnceAndTheFolderCanBeReused) {
  TempDir dir;
  fs::create_directories(dir / "data/RTE");
  {
    std::ofstream train(dir / "data/RTE/train.tsv"), dev(dir / "data/RTE/dev.tsv");
    train << "index\tsentence1\tsentence2\tlabel\n";
    dev << "index\tsentence1\tsentence2\tlabel\n";
    for (int i = 0; i < 3000; ++i)
      train << i << "\ta film numbered " << i << "\tit is " << (i % 2 ? "good" : "bad") << "\t"
            << (i % 2 ? "entailment" : "not_entailment") << "\n";
    dev << "0\ta good film\tit is good\tentailment\n1\ta bad film\tit is good\tnot_entailment\n";
  }
  const std::string run = dir / "run";
  auto args = [&](const std::string& settings) {
    return std::vector<std::string>{"train", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--task", "rte",
                                    "--data", dir / "data", "--method", "lst", "--settings", settings, "--batch-size", "4",
                                    "--max-steps", "1", "--max-eval-examples", "2", "--threads", "1", "--out", run};
  };
  const pid_t pid = start_in_background(args(R"({"fisher_samples": 3000})"), dir / "stderr", dir / "stderr", "init: ");
  ASSERT_GT(pid, 0) << "the Fisher pass did not start within 300 s:\n" << read_text(dir / "stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGINT);
  const auto sent = std::chrono::steady_clock::now();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  const std::string err = read_text(dir / "stderr");
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 130) << err;
  EXPECT_LT(seconds, 2.0) << err;
  EXPECT_NE(err.find("during the side network's initialisation"), std::string::npos) << err;
  EXPECT_EQ(err.find("fisher: side network initialised"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(run + "/last"));
  // Nothing was trained: a new command (other settings) may take the folder.
  test::CliResult again = test::run_cli(args(R"({"side_init": "random"})"), dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("made no update"), std::string::npos) << again.err;
  EXPECT_EQ(read_json_file(run + "/run.json")["settings"]["side_init"], "random");
}

// A refused setting writes nothing, and a run that made no update gives way to a new command;
// one that made updates does not.
TEST_F(TrainerTest, CliRefusalsLeaveNoRunAndOnlyARunWithUpdatesIsKept) {
  TempDir dir;
  const std::string run = dir / "run";
  std::vector<std::string> cached = cli_train_args(run, "2");
  cached.insert(cached.end(), {"--method", "lst", "--cache-backbone"});
  test::CliResult refused = test::run_cli(cached, dir);
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("backbone_dropout"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(run + "/run.json"));

  std::vector<std::string> fixed = cached;
  *(std::find(fixed.begin(), fixed.end(), "--settings") + 1) = R"({"side_init": "random", "backbone_dropout": false})";
  test::CliResult trained = test::run_cli(fixed, dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  test::CliResult again = test::run_cli(fixed, dir);
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.err.find("already holds a run"), std::string::npos) << again.err;
  EXPECT_EQ(load_training_state(run + "/last").global_step, 2);

  // run.json with no checkpoint (a run stopped before its first update): replaced.
  const std::string stale = dir / "stale";
  fs::create_directories(stale);
  fs::copy_file(run + "/run.json", stale + "/run.json");
  test::CliResult fresh = test::run_cli(cli_train_args(stale, "2"), dir);
  ASSERT_EQ(fresh.status, 0) << fresh.err;
  EXPECT_NE(fresh.err.find("made no update"), std::string::npos) << fresh.err;
  EXPECT_EQ(load_training_state(stale + "/last").global_step, 2);
}

// One rule for eval and predict (last/ unless --checkpoint best), said on stderr; train's flag
// names in bench too; errors that list every choice; --version.
TEST_F(TrainerTest, CliCommandsAgree) {
  TempDir dir;
  const std::string run = dir / "run";
  CliResult train = run_cli(cli_train_args(run, "4"), dir);
  ASSERT_EQ(train.status, 0) << train.err;
  CliResult predict = run_cli({"predict", "--run", run, "--threads", "1", "A man sleeps.\tA person rests."}, dir);
  ASSERT_EQ(predict.status, 0) << predict.err;
  EXPECT_NE(predict.err.find("predict: last/ (" + run + "/last, update 4)"), std::string::npos) << predict.err;
  CliResult eval = run_cli({"eval", "--run", run, "--threads", "1"}, dir);
  ASSERT_EQ(eval.status, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["checkpoint"], "last");
  CliResult nothing = run_cli({"predict", "--run", run}, dir);
  EXPECT_EQ(nothing.status, 1) << nothing.err;
  EXPECT_NE(nothing.err.find("no input"), std::string::npos) << nothing.err;
  EXPECT_EQ(nothing.err.find("not both"), std::string::npos) << nothing.err;

  CliResult bench = run_cli({"bench", "memory", "--model", tiny_model(), "--methods", "lora", "--batch-size", "2",
                             "--max-source-length", "8", "--max-target-length", "4", "--warmup", "0", "--steps", "1",
                             "--threads", "1", "--json", dir / "bench.json"},
                            dir);
  ASSERT_EQ(bench.status, 0) << bench.err;
  const nlohmann::json record = read_json_file(dir / "bench.json");
  EXPECT_EQ(record.at("batch"), 2) << record.dump();
  EXPECT_EQ(record.at("source_length"), 8) << record.dump();

  CliResult arch = run_cli({"inspect", "arch:no-such-model"}, dir);
  EXPECT_NE(arch.status, 0);
  for (const char* preset : {"t5-small", "qwen2-0.5b", "mistral-7b", "stories260k"})
    EXPECT_NE(arch.err.find(preset), std::string::npos) << arch.err;
  CliResult task = run_cli({"train", "--model", tiny_model(), "--task", "squad", "--data", dir / "data", "--out", dir / "x"}, dir);
  EXPECT_EQ(task.status, 1) << task.err;
  for (const char* name : {"rte", "custom", "completion", "text", "vqa"}) EXPECT_NE(task.err.find(name), std::string::npos) << task.err;

  CliResult version = run_cli({"--version"}, dir);
  EXPECT_EQ(version.status, 0) << version.err;
  EXPECT_EQ(version.out.rfind("ladder ", 0), 0u) << version.out;
  EXPECT_NE(version.out.find("libtorch "), std::string::npos) << version.out;
}

// bench memory: settings per method (over the common ones), and a method that fails loses only
// its own row.
TEST(CliBench, SettingsPerMethodAndTheOtherRowsKeptWhenOneFails) {
  TempDir dir;
  auto bench = [&](std::vector<std::string> extra, const std::string& json) {
    std::vector<std::string> args = {"bench", "memory", "--model", tiny_model(), "--batch", "2", "--src-len", "8",
                                     "--tgt-len", "4", "--warmup", "0", "--steps", "1", "--threads", "1", "--json", json};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args, dir);
  };
  auto trainable = [&](const std::string& json) {
    return read_json_file(json).at("records").at(0).at("trainable_parameters").get<int64_t>();
  };
  ASSERT_EQ(bench({"--methods", "lora", "--settings", R"(lora={"r": 2})"}, dir / "r2.json").status, 0);
  ASSERT_EQ(bench({"--methods", "lora", "--settings", R"({"r": 4})"}, dir / "r4.json").status, 0);
  ASSERT_EQ(bench({"--methods", "lora", "--settings", R"({"r": 4})", "--settings", R"(lora={"r": 2})"}, dir / "both.json").status, 0);
  EXPECT_EQ(trainable(dir / "r4.json"), 2 * trainable(dir / "r2.json"));
  EXPECT_EQ(trainable(dir / "both.json"), trainable(dir / "r2.json"));

  CliResult one_fails = bench({"--methods", "lst,lora", "--settings", R"(lst={"reduction": 1000})"}, dir / "kept.json");
  EXPECT_EQ(one_fails.status, 1) << one_fails.err;
  EXPECT_NE(one_fails.err.find("1 of 2 methods failed (lst)"), std::string::npos) << one_fails.err;
  EXPECT_NE(one_fails.out.find("lora"), std::string::npos) << one_fails.out;
  const nlohmann::json kept = read_json_file(dir / "kept.json");
  ASSERT_EQ(kept.at("records").size(), 1u) << kept.dump();
  EXPECT_EQ(kept.at("records").at(0).at("method"), "lora");
  // The kernels behind its times: the child inherits this process's OpenBLAS choice.
  EXPECT_EQ(kept.at("records").at(0).at("blas"), runtime::blas_description());
  EXPECT_EQ(kept.at("failed"), nlohmann::json::array({"lst"}));

  CliResult unknown = bench({"--methods", "lora", "--settings", R"(lst={"reduction": 2})"}, dir / "x.json");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("METHOD one of --methods"), std::string::npos) << unknown.err;
}

// merge: a LoRA folder becomes a plain model folder that generates like the model with the
// adapter; refusals exit 1 naming the problem and write nothing.
TEST(CliMerge, ALoraFolderBecomesAPlainModelAndRefusalsWriteNothing) {
  TempDir dir;
  ASSERT_EQ(run_cli({"init", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--method", "lora", "--threads", "1",
                     "--out", dir / "lora"},
                    dir).status,
            0);
  CliResult merged = run_cli({"merge", "--model", tiny_model(), "--adapter", dir / "lora", "--out", dir / "merged"}, dir);
  ASSERT_EQ(merged.status, 0) << merged.err;
  EXPECT_NE(merged.out.find("tensors changed"), std::string::npos) << merged.out;
  EXPECT_TRUE(fs::exists(dir / "merged/config.json"));
  const std::vector<std::string> generate = {"generate", "--tokenizer", tokenizer_path(), "--max-new-tokens", "4",
                                             "--threads", "1", "hello world"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = generate;
    args.insert(args.begin() + 1, extra.begin(), extra.end());
    CliResult r = run_cli(args, dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(with({"--model", dir / "merged"}), with({"--model", tiny_model(), "--adapter", dir / "lora"}));

  ASSERT_EQ(run_cli({"init", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--method", "lst", "--settings",
                     R"({"side_init": "random"})", "--threads", "1", "--out", dir / "lst"},
                    dir).status,
            0);
  CliResult lst = run_cli({"merge", "--model", tiny_model(), "--adapter", dir / "lst", "--out", dir / "x"}, dir);
  EXPECT_EQ(lst.status, 1);
  EXPECT_NE(lst.err.find("side network"), std::string::npos) << lst.err;
  CliResult missing = run_cli({"merge", "--model", tiny_model(), "--adapter", dir / "nothing", "--out", dir / "x"}, dir);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find(dir / "nothing"), std::string::npos) << missing.err;
  CliResult taken = run_cli({"merge", "--model", tiny_model(), "--adapter", dir / "lora", "--out", dir / "merged"}, dir);
  EXPECT_EQ(taken.status, 1);
  EXPECT_NE(taken.err.find("not an empty folder"), std::string::npos) << taken.err;
  EXPECT_FALSE(fs::exists(dir / "x"));
}

// generate --adapter decodes with the method: what the library's decoding of the loaded folder
// gives, and not what the plain model gives (a prompt-tuning folder at its random start).
TEST(CliGenerateAdapter, TheMethodDecodes) {
  TempDir dir;
  const std::string folder = dir / "prompt";
  ASSERT_EQ(run_cli({"init", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--method", "prompt", "--threads",
                     "1", "--out", folder},
                    dir).status,
            0);
  const std::vector<std::string> texts = {"rte sentence1: a man sleeps. sentence2: a person rests.", "hello world"};
  std::vector<std::string> args = {"generate", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--max-new-tokens",
                                   "5", "--threads", "1"};
  args.insert(args.end(), texts.begin(), texts.end());
  CliResult plain = run_cli(args, dir);
  args.insert(args.end(), {"--adapter", folder});
  CliResult adapted = run_cli(args, dir);
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(adapted.status, 0) << adapted.err;

  LoadedMethod loaded = load_trained_method(tiny_model(), tokenizer_path(), folder, "fp32", torch::kCPU);
  std::vector<data::Example> inputs(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) inputs[i].source = texts[i];
  DecodeOptions decode;
  decode.max_new_tokens = 5;
  std::string expected;
  for (const auto& line : generate_texts(*loaded.method, *loaded.tokenizer,
                                         tokenize_for(loaded.method->backbone_handle(), *loaded.tokenizer, inputs, 512, 6),
                                         decode))
    expected += line + "\n";
  EXPECT_EQ(adapted.out, expected);
  EXPECT_NE(adapted.out, plain.out);
  // Streamed, one text at a time, each line is the same, with the method or without.
  args.push_back("--stream");
  EXPECT_EQ(run_cli(args, dir).out, expected);
  args.resize(args.size() - 3);
  args.push_back("--stream");
  EXPECT_EQ(run_cli(args, dir).out, plain.out);
  CliResult ids = run_cli({"generate", "--model", tiny_model(), "--adapter", folder, "--ids", "1,2"}, dir);
  EXPECT_NE(ids.status, 0);
  EXPECT_NE(ids.err.find("--adapter takes texts"), std::string::npos) << ids.err;
}

// generate's sampling flags: a seed gives the same text; top-k 1 is greedy at any temperature;
// --stop cuts each line before the stop text.
TEST(CliGenerateSampling, SeedTopKAndStop) {
  TempDir dir;
  auto generate = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--max-new-tokens",
                                     "8", "--threads", "1", "a man sleeps.", "hello world"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = run_cli(args, dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  };
  const std::string greedy = generate({});
  EXPECT_EQ(generate({"--temperature", "1.5", "--seed", "3"}), generate({"--temperature", "1.5", "--seed", "3"}));
  EXPECT_EQ(generate({"--temperature", "2", "--top-k", "1", "--seed", "9"}), greedy);
  const std::string first = greedy.substr(0, greedy.find('\n'));
  ASSERT_GE(first.size(), 4u) << greedy;
  const std::string stop = first.substr(first.size() / 2, 2);
  const std::string cut = generate({"--stop", stop});
  EXPECT_EQ(cut.substr(0, cut.find('\n')), first.substr(0, first.find(stop))) << "stop '" << stop << "' in '" << first << "'";
  // One text per --stop: the texts after it are still texts.
  CliResult before = run_cli({"generate", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--max-new-tokens", "8",
                              "--threads", "1", "--stop", stop, "a man sleeps.", "hello world"},
                             dir);
  EXPECT_EQ(before.out, cut) << before.err;
  CliResult bad = run_cli({"generate", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--top-p", "0.9", "x"}, dir);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--temperature"), std::string::npos) << bad.err;
  CliResult empty = run_cli({"generate", "--model", tiny_model(), "--tokenizer", tokenizer_path(), "--stop", "", "x"}, dir);
  EXPECT_NE(empty.status, 0);
  EXPECT_NE(empty.err.find("--stop"), std::string::npos) << empty.err;
}

// --resume with --max-steps or --epochs makes a finished (or unfinished) run longer.
TEST_F(TrainerTest, CliResumeTakesANewLength) {
  TempDir dir;
  const std::string run = dir / "run";
  ASSERT_EQ(run_cli(cli_train_args(run, "4"), dir).status, 0);
  CliResult longer = run_cli({"train", "--resume", run, "--max-steps", "6", "--threads", "1"}, dir);
  ASSERT_EQ(longer.status, 0) << longer.err;
  EXPECT_NE(longer.err.find("continues to 6 updates"), std::string::npos) << longer.err;
  EXPECT_EQ(nlohmann::json::parse(longer.out)["global_step"], 6);
  EXPECT_EQ(read_json_file(run + "/run.json")["training"]["max_steps"], 6);
  EXPECT_TRUE(load_training_state(run + "/last").finished);
  // Updates made are never undone, and the other settings stay the run's.
  CliResult shorter = run_cli({"train", "--resume", run, "--max-steps", "5", "--threads", "1"}, dir);
  EXPECT_NE(shorter.status, 0);
  EXPECT_NE(shorter.err.find("at update 6"), std::string::npos) << shorter.err;
  CliResult other = run_cli({"train", "--resume", run, "--max-steps", "8", "--lr", "0.1"}, dir);
  EXPECT_EQ(other.status, 1) << other.err;
  EXPECT_NE(other.err.find("--lr cannot be combined with --resume"), std::string::npos) << other.err;
  CliResult epochs = run_cli({"train", "--resume", run, "--epochs", "3", "--threads", "1"}, dir);
  ASSERT_EQ(epochs.status, 0) << epochs.err;  // 32 examples, batch 8: 4 updates an epoch
  EXPECT_EQ(nlohmann::json::parse(epochs.out)["global_step"], 12);
}

// ---- reliability of the run folder ----------------------------------------------------------

TEST(TrainLog, AFailedWriteIsAnErrorNamingTheFile) {
  try {
    append_jsonl("/dev/full", {{"type", "train"}, {"step", 1}});
    FAIL() << "writing to /dev/full succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
  }
}

RunContext stop_at(int64_t step) {
  RunContext context;
  context.hooks.stop = [step](int64_t done) { return done == step ? SIGTERM : 0; };
  return context;
}

TEST_F(TrainerTest, EvaluationsAreCommittedWithTheCheckpoint) {
  // A kill after last/ was saved but before metrics.json was rewritten (the old metrics.json
  // lacks the newest evaluations, or is gone): the resume still has every evaluation up to the
  // checkpoint and the same best as an uninterrupted run.
  TempDir dir;
  RunConfig c = tiny_run(tiny_model(), "lora");
  const TrainResult straight = start_run(c, dir / "straight", {});
  EXPECT_THROW(start_run(c, dir / "killed", stop_at(6)), TrainingInterrupted);  // evaluations at 3 and 6 done
  fs::remove(dir / "killed/metrics.json");
  const TrainResult resumed = resume_run(dir / "killed", {});
  EXPECT_EQ(resumed.metrics["evaluations"], straight.metrics["evaluations"]);
  EXPECT_EQ(resumed.metrics["best"], straight.metrics["best"]);
  EXPECT_TRUE(resumed.metrics["best"].is_object());
}

TEST_F(TrainerTest, LogLinesAfterAMidIntervalResumeEqualAStraightRun) {
  TempDir dir;
  RunConfig c = tiny_run(tiny_model(), "bitfit");
  c.train.log_every = 4;  // a line at updates 4 and 8
  const TrainResult straight = start_run(c, dir / "straight", {});
  EXPECT_THROW(start_run(c, dir / "resumed", stop_at(2)), TrainingInterrupted);  // mid-interval
  resume_run(dir / "resumed", {});
  const auto a = read_jsonl(dir / "straight/log.jsonl", "train"), b = read_jsonl(dir / "resumed/log.jsonl", "train");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["step"], b[i]["step"]);
    EXPECT_EQ(a[i]["loss"], b[i]["loss"]) << "update " << a[i]["step"];
  }
}

TEST_F(TrainerTest, ATrainingStateThatDoesNotFitTheRunIsRefused) {
  TempDir dir;
  RunConfig c = tiny_run(tiny_model(), "bitfit");
  EXPECT_THROW(start_run(c, dir / "run", stop_at(3)), TrainingInterrupted);
  const std::string state_path = dir / "run/last/training_state.json";
  const nlohmann::json good = read_json_file(state_path);
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"batch_in_epoch", 1000000}, {"examples_seen", 1000000}, {"seed", 6}, {"epoch", 50}, {"best_step", 7}}) {
    nlohmann::json bad = good;
    bad[field] = value;
    write_json_atomically(state_path, bad);
    try {
      resume_run(dir / "run", {});
      ADD_FAILURE() << field << " = " << value << " was accepted";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("training_state.json"), std::string::npos) << e.what();
    }
  }
  write_json_atomically(state_path, good);
  EXPECT_TRUE(resume_run(dir / "run", {}).state.finished);
  // A damaged checkpoint is not "no checkpoint": the run is not silently started over.
  TempDir other;
  EXPECT_THROW(start_run(c, other / "run", stop_at(3)), TrainingInterrupted);
  fs::remove(other / "run/last/training_state.json");
  try {
    resume_run(other / "run", {});
    ADD_FAILURE() << "a last/ without its training state was resumed";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("training_state.json"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, DivergenceStopsTheRunAndSaysWhatIsOnDisk) {
  TempDir dir;
  RunConfig c = tiny_run(tiny_model(), "full");
  c.train.learning_rate = 1e6;
  c.train.warmup_steps = 0;
  c.train.max_grad_norm = 0;
  try {
    start_run(c, dir / "run", {});
    FAIL() << "lr 1e6 trained to the end";
  } catch (const TrainingInterrupted&) {
    FAIL() << "not an interruption";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("diverged"), std::string::npos) << message;
    EXPECT_NE(message.find("on disk: "), std::string::npos) << message;
    EXPECT_NE(message.find("last/"), std::string::npos) << message;
  }
}

TEST_F(TrainerTest, CliOneProcessPerRunFolder) {
  TempDir dir;
  const std::string run = dir / "run";
  auto args = cli_train_args(run, "1000000");
  args.insert(args.end(), {"--log-every", "1", "--eval-every", "1000000"});
  const pid_t pid = start_training_in_background(args, run, dir / "first.log");
  ASSERT_GT(pid, 0) << test::read_text(dir / "first.log");
  const test::CliResult second = test::run_cli({"train", "--resume", run, "--threads", "1"}, dir);
  const test::CliResult other_out = test::run_cli(cli_train_args(run, "10"), dir);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  EXPECT_NE(second.status, 0);
  EXPECT_NE(second.err.find(run + " is in use by another ladder process (PID " + std::to_string(pid) + ")"),
            std::string::npos)
      << second.err;
  EXPECT_NE(other_out.status, 0);
  EXPECT_NE(other_out.err.find("in use"), std::string::npos) << other_out.err;
  // The first process is gone; its lock file stays, and blocks nobody.
  EXPECT_TRUE(fs::exists(run + "/.lock"));
  EXPECT_NO_THROW(RunLock lock(run));
}

TEST(CliTrainFlags, BadValuesAreOneReadableLine) {
  TempDir dir;
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--lr", "nan"}, {"--lr", "0"}, {"--lr", "inf"}, {"--max-grad-norm", "-1"}, {"--seed", "-1"},
           {"--max-steps", "1e20"}, {"--threads", "100000"}, {"--batch-size", "2.5"}}) {
    std::vector<std::string> args = {"train", "--model", tiny_model(), "--task", "rte", "--data", samples_dir(),
                                     "--out", dir / "run"};
    args.insert(args.end(), bad.begin(), bad.end());
    test::CliResult r = test::run_cli(args, dir);
    EXPECT_EQ(r.status, 2) << bad[0] << " " << bad[1] << ": " << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_LT(r.err.size(), 200u) << r.err;
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "run/run.json"));
  }
}

}  // namespace
}  // namespace ladder::train
