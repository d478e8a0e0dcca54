// `ladder pretrain` end to end on a tiny T5 and the tiny corpus: the loss falls, the Hugging
// Face folder loads with load_model and gives the in-memory model's logits, an interrupted and
// resumed run ends with a straight run's weights; schedule, init and options.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ladder/error.h"
#include "ladder/io/safetensors.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/pretrain/pretrain.h"
#include "ladder/train/interrupt.h"
#include "test_util.h"

namespace ladder::pretrain {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

const std::string kData = std::string(LADDER_TEST_DATA);

PretrainOptions tiny_options() {
  PretrainOptions o;
  o.model = default_model_config(padded_vocab_size(1100));  // tiny-spiece: 1000 pieces + 100 sentinels
  o.model.d_model = 32;
  o.model.d_kv = 8;
  o.model.num_heads = 4;
  o.model.d_ff = 64;
  o.model.num_layers = 2;
  o.model.num_decoder_layers = 2;
  o.tokenizer = kData + "/tokenizer/tiny-spiece.model";
  o.corpus.files = {kData + "/pretrain/tiny_dictionary.txt.xz", kData + "/pretrain/tiny_glosses.txt"};
  o.corpus.shuffle_block = 16;
  o.input_length = 32;
  o.batch_size = 8;
  o.max_steps = 20;
  o.learning_rate = 1e-2;
  o.warmup_steps = 2;
  o.log_every = 5;
  o.save_every = 10;
  o.baseline_examples = 50;
  return o;
}

std::vector<nlohmann::json> read_log(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

std::vector<nlohmann::json> train_records(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (auto& r : read_log(path))
    if (r["type"] == "train") out.push_back(r);
  return out;
}

Seq2SeqBatch probe_batch() {
  Seq2SeqBatch batch;
  batch.input_ids = torch::tensor({{5, 17, 42, 99, 1099, 300, 1}, {8, 8, 9, 1098, 12, 1, 0}}, torch::kLong);
  batch.attention_mask = torch::tensor({{1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 0}}, torch::kLong);
  batch.labels = torch::tensor({{1099, 7, 1098, 1}, {1099, 3, 1, -100}}, torch::kLong);
  return batch;
}

TEST(Pretrain, DefaultArchitectureHas26MParameters) {
  T5ForConditionalGeneration model(default_model_config());
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  // shared + lm_head 2 x 32128 x 256; encoder layer 4 x 256^2 + 3 x 256 x 1024 + 2 x 256;
  // decoder layer 8 x 256^2 + 3 x 256 x 1024 + 3 x 256; 2 x 4 layers, 2 relative biases 32 x 8,
  // 2 final norms.
  const int64_t enc = 4 * 65536 + 3 * 262144 + 512, dec = 8 * 65536 + 3 * 262144 + 768;
  EXPECT_EQ(n, 2 * 32128 * 256 + 4 * enc + 4 * dec + 2 * 256 + 2 * 256);
  EXPECT_EQ(n, 25892864);
  EXPECT_TRUE(model->lm_head);
  EXPECT_EQ(padded_vocab_size(32100), 32128);
  EXPECT_EQ(padded_vocab_size(1100), 1152);
}

TEST(Pretrain, InitIsHuggingFacesExceptAFanInHead) {
  const T5Config config = tiny_options().model;
  T5ForConditionalGeneration ours(config), hf(config);
  init_pretrain_weights(*ours, 3);
  init_t5_weights(*hf, 3);
  auto a = ours->named_parameters(), b = hf->named_parameters();
  for (const auto& item : a) {
    if (item.key() == "lm_head.weight") continue;
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  }
  const double std = ours->lm_head->weight.std().item<double>();
  EXPECT_NEAR(std, 1.0 / std::sqrt(32.0), 0.01);
  EXPECT_NEAR(hf->lm_head->weight.std().item<double>(), 1.0, 0.05);
}

TEST(Pretrain, ScheduleWarmsUpThenDecays) {
  PretrainOptions o = tiny_options();
  o.learning_rate = 1e-3;
  o.max_steps = 100;
  o.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 0), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 9), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 10), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 55), 0.5e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 99), 1e-3 / 90);
  o.schedule = "inverse-sqrt";
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 39), 0.5e-3);  // sqrt(10 / 40)
  o.schedule = "constant";
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 99), 1e-3);
  o.warmup_steps = -1;  // default: min(1000, max_steps / 10)
  EXPECT_EQ(o.resolved_warmup_steps(), 10);
  o.max_steps = 100000;
  EXPECT_EQ(o.resolved_warmup_steps(), 1000);
}

TEST(Pretrain, OptionsRoundTripAndValidate) {
  PretrainOptions o = tiny_options();
  o.schedule = "inverse-sqrt";
  o.adam.beta2 = 0.98;
  const PretrainOptions back = PretrainOptions::from_json(nlohmann::json::parse(o.to_json().dump()), "test");
  EXPECT_EQ(back.to_json(), o.to_json());
  EXPECT_EQ(back.model.d_model, 32);
  EXPECT_TRUE(back.model.has_lm_head);
  PretrainOptions bad = tiny_options();
  bad.schedule = "cosine";
  EXPECT_THROW(bad.validate(), UsageError);
  bad = tiny_options();
  bad.input_length = 1;
  EXPECT_THROW(bad.validate(), UsageError);
  bad = tiny_options();
  bad.model.vocab_size = 1000;  // smaller than the tokenizer's 1100
  TempDir dir;
  EXPECT_THROW(start_pretraining(bad, dir / "run", torch::kCPU), UsageError);
  EXPECT_THROW(resume_pretraining(dir / "nothing", torch::kCPU), UsageError);
}

TEST(Pretrain, SmokeRunLowersTheLossAndWritesALoadableHuggingFaceFolder) {
  TempDir dir;
  const std::string out = dir / "run";
  std::ostringstream progress;
  PretrainHooks hooks;
  hooks.progress = &progress;
  PretrainResult result = start_pretraining(tiny_options(), out, torch::kCPU, hooks);
  EXPECT_EQ(result.steps, 20);
  for (const char* file : {"config.json", "model.safetensors", "spiece.model", "pretrain_log.jsonl",
                           "pretrain_options.json", "pretrain_state/state.json", "pretrain_state/model.safetensors",
                           "pretrain_state/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(fs::path(out) / file)) << file;

  // The log: a start record with the unigram baseline, then one record per 5 updates.
  const auto log = read_log(out + "/pretrain_log.jsonl");
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0]["type"], "start");
  const double baseline = log[0]["unigram_entropy"].get<double>();
  EXPECT_DOUBLE_EQ(baseline, result.unigram_entropy);
  EXPECT_GT(baseline, 2.0);
  EXPECT_LT(baseline, std::log(1100.0));
  EXPECT_EQ(log[0]["targets_length"], compute_input_and_target_lengths(32).targets_length);
  const auto train = train_records(out + "/pretrain_log.jsonl");
  ASSERT_EQ(train.size(), 4u);
  const double first = train.front()["loss"].get<double>(), last = train.back()["loss"].get<double>();
  EXPECT_LT(last, first - 1.0) << "20 updates did not lower the loss (first " << first << ", last " << last << ")";
  EXPECT_EQ(train.back()["step"], 20);
  EXPECT_EQ(train.back()["tokens_seen"], 20 * 8 * (32 + compute_input_and_target_lengths(32).targets_length));
  EXPECT_NE(progress.str().find("unigram baseline"), std::string::npos);
  EXPECT_NE(progress.str().find("step 20/20 | pass 1"), std::string::npos) << progress.str();

  // The Hugging Face folder: untied v1.1 config, format=pt weights with lm_head, and
  // load_model gives exactly the in-memory model's logits.
  const nlohmann::json config = nlohmann::json::parse(std::ifstream(out + "/config.json"));
  EXPECT_EQ(config["model_type"], "t5");
  EXPECT_EQ(config["feed_forward_proj"], "gated-gelu");
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(config["vocab_size"], 1152);
  EXPECT_EQ(config["dropout_rate"], 0.0);
  const auto weights = safetensors::File::open(out + "/model.safetensors");
  EXPECT_EQ(weights.metadata().at("format"), "pt");
  EXPECT_TRUE(weights.contains("lm_head.weight"));
  EXPECT_TRUE(weights.contains("shared.weight"));
  LoadedModel loaded = load_model(out);
  EXPECT_EQ(loaded.tokenizer_path, (fs::path(out) / "spiece.model").string());
  torch::NoGradGuard no_grad;
  result.model->eval();
  loaded.model->eval();
  const torch::Tensor expected = result.model->forward(probe_batch()).logits;
  const torch::Tensor got = loaded.model->forward(probe_batch()).logits;
  EXPECT_EQ(test::max_abs_diff(got, expected), 0.0);
}

TEST(Pretrain, Bf16ExportHoldsTheRoundedWeights) {
  TempDir dir;
  PretrainOptions o = tiny_options();
  o.max_steps = 2;
  o.save_dtype = "bf16";
  o.baseline_examples = 0;
  const PretrainResult result = start_pretraining(o, dir / "run", torch::kCPU);
  const auto weights = safetensors::File::open(dir / "run/model.safetensors");
  EXPECT_EQ(weights.info("shared.weight").dtype, safetensors::Dtype::BF16);
  const nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "run/config.json"));
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  const LoadedModel loaded = load_model(dir / "run");
  torch::NoGradGuard no_grad;
  for (const auto& item : result.model->named_parameters()) {
    const torch::Tensor rounded = item.value().to(torch::kBFloat16).to(torch::kFloat);
    EXPECT_TRUE(torch::equal(loaded.model->named_parameters()[item.key()], rounded)) << item.key();
  }
}

TEST(Pretrain, Bf16ComputeUpdatesFp32MasterWeights) {
  TempDir dir;
  PretrainOptions o = tiny_options();
  o.precision = "bf16";
  o.baseline_examples = 0;
  PretrainResult result = start_pretraining(o, dir / "run", torch::kCPU);
  const auto train = train_records(dir / "run/pretrain_log.jsonl");
  ASSERT_EQ(train.size(), 4u);
  EXPECT_LT(train.back()["loss"].get<double>(), train.front()["loss"].get<double>() - 1.0);
  T5ForConditionalGeneration initial(o.model);
  init_pretrain_weights(*initial, o.seed);
  auto start = initial->named_parameters();
  for (const auto& item : result.model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();
    // Updates of ~lr x 1e-2 relative size survive in fp32; in bf16 weights many would round away.
    EXPECT_FALSE(torch::equal(item.value(), start[item.key()])) << item.key() << " never changed";
  }
}

TEST(Pretrain, InterruptedAndResumedRunEqualsAStraightRun) {
  TempDir dir;
  PretrainOptions o = tiny_options();
  o.max_steps = 6;
  o.log_every = 1;
  o.save_every = 100;
  o.batch_size = 4;
  o.corpus.shuffle_block = 5;  // the resume lands mid-block, several blocks in
  const PretrainResult straight = start_pretraining(o, dir / "straight", torch::kCPU);

  PretrainHooks stop_at_3;
  stop_at_3.stop = [](int64_t step) { return step == 3 ? SIGTERM : 0; };
  try {
    start_pretraining(o, dir / "resumed", torch::kCPU, stop_at_3);
    FAIL() << "the stop hook did not interrupt the run";
  } catch (const train::TrainingInterrupted& e) {
    EXPECT_EQ(e.exit_code(), 143);
  }
  const nlohmann::json state = nlohmann::json::parse(std::ifstream(dir / "resumed/pretrain_state/state.json"));
  EXPECT_EQ(state["step"], 3);
  EXPECT_TRUE(fs::exists(dir / "resumed/model.safetensors")) << "the interrupt exports the weights too";
  EXPECT_THROW(start_pretraining(o, dir / "resumed", torch::kCPU), UsageError);  // holds a run: resume it
  const PretrainResult resumed = resume_pretraining(dir / "resumed", torch::kCPU);
  EXPECT_EQ(resumed.steps, 6);

  auto a = straight.model->named_parameters(), b = resumed.model->named_parameters();
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  const auto la = train_records(dir / "straight/pretrain_log.jsonl"), lb = train_records(dir / "resumed/pretrain_log.jsonl");
  ASSERT_EQ(la.size(), 6u);
  ASSERT_EQ(lb.size(), 6u);
  for (std::size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i]["step"], lb[i]["step"]);
    EXPECT_EQ(la[i]["loss"], lb[i]["loss"]) << "step " << la[i]["step"];
  }
  // Extending the finished run continues from step 6.
  const PretrainResult extended = resume_pretraining(dir / "resumed", torch::kCPU, {}, ResumeOverrides{8, 0, 0});
  EXPECT_EQ(extended.steps, 8);
  EXPECT_EQ(load_pretrain_options(dir / "resumed").max_steps, 8);
  EXPECT_THROW(resume_pretraining(dir / "resumed", torch::kCPU, {}, ResumeOverrides{4, 0, 0}), UsageError);
}

TEST(Pretrain, InitStartsFromAnotherRunsWeights) {
  TempDir dir;
  PretrainOptions o = tiny_options();
  o.max_steps = 3;
  start_pretraining(o, dir / "first", torch::kCPU);
  const LoadedModel first = load_model(dir / "first");

  PretrainOptions continued = o;
  continued.init_from = dir / "first";
  continued.corpus.files = {kData + "/pretrain/tiny_glosses.txt"};  // another corpus: domain adaptation
  PretrainHooks stop_at_0;
  stop_at_0.stop = [](int64_t) { return SIGTERM; };
  EXPECT_THROW(start_pretraining(continued, dir / "second", torch::kCPU, stop_at_0), train::TrainingInterrupted);
  // Exported before any update: the first run's weights, not a fresh initialisation.
  const LoadedModel second = load_model(dir / "second");
  auto expected = first.model->named_parameters();
  for (const auto& item : second.model->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key();
  EXPECT_EQ(load_pretrain_options(dir / "second").init_from, fs::absolute(dir / "first").string());
  // The resumed run keeps its own weights; the init folder is not read again.
  fs::rename(dir / "first", dir / "moved");
  EXPECT_EQ(resume_pretraining(dir / "second", torch::kCPU).steps, 3);

  PretrainOptions other = continued;
  other.init_from = dir / "moved";
  other.model.d_ff = 128;
  EXPECT_THROW(start_pretraining(other, dir / "third", torch::kCPU), UsageError);
}

TEST(Pretrain, CommandLineRunsAndRejectsChangedSettingsOnResume) {
  TempDir dir;
  const std::string out = dir / "run";
  const std::vector<std::string> common = {
      "--tokenizer", kData + "/tokenizer/tiny-spiece.model", "--corpus", kData + "/pretrain/tiny_glosses.txt",
      "--d-model", "32", "--d-kv", "8", "--num-heads", "4", "--d-ff", "64", "--num-layers", "1",
      "--num-decoder-layers", "1", "--input-length", "16", "--batch-size", "4", "--baseline-examples", "10",
      "--threads", "1"};
  auto with = [&](std::vector<std::string> args, bool add_common) {
    args.insert(args.begin(), "pretrain");
    if (add_common) args.insert(args.end(), common.begin(), common.end());
    return test::run_cli(args, dir);
  };
  const test::CliResult first = with({"--out", out, "--max-steps", "3", "--log-every", "1"}, true);
  ASSERT_EQ(first.status, 0) << first.err;
  const nlohmann::json summary = nlohmann::json::parse(first.out);
  EXPECT_EQ(summary["steps"], 3);
  EXPECT_NE(first.err.find("step 3/3 |"), std::string::npos) << first.err;
  EXPECT_EQ(train_records(out + "/pretrain_log.jsonl").size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(out + "/config.json"))["num_layers"], 1);
  // Settings come from the run; only length, reporting and where it runs may change.
  const test::CliResult changed = with({"--resume", out, "--lr", "0.1"}, false);
  EXPECT_EQ(changed.status, 1);
  EXPECT_EQ(changed.err_lines(), 1) << changed.err;
  EXPECT_NE(changed.err.find("--lr cannot be combined with --resume"), std::string::npos) << changed.err;
  EXPECT_EQ(with({"--resume", out, "--max-steps", "4"}, false).status, 0);
  EXPECT_EQ(train_records(out + "/pretrain_log.jsonl").size(), 4u);
  const test::CliResult again = with({"--out", out, "--max-steps", "3"}, true);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("already holds a pretraining run"), std::string::npos) << again.err;
  const test::CliResult both = with({"--out", dir / "other", "--config", "x.json"}, true);
  EXPECT_EQ(both.status, 1);
  EXPECT_NE(both.err.find("cannot be combined with --config"), std::string::npos) << both.err;
  const test::CliResult init_and_flags = with({"--out", dir / "other", "--init", out}, true);
  EXPECT_EQ(init_and_flags.status, 1);
  EXPECT_NE(init_and_flags.err.find("--d-model cannot be combined with --init"), std::string::npos) << init_and_flags.err;
  const test::CliResult init = with({"--out", dir / "continued", "--init", out, "--corpus", kData + "/pretrain/tiny_glosses.txt",
                                     "--input-length", "16", "--batch-size", "4", "--baseline-examples", "10",
                                     "--max-steps", "2", "--threads", "1"}, false);
  ASSERT_EQ(init.status, 0) << init.err;  // the tokenizer defaults to the init folder's
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir / "continued/config.json"))["num_layers"], 1);
}

}  // namespace
}  // namespace ladder::pretrain
