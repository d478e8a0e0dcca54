// The authors' recipe by default (seq2seq/ of github ylsung/Ladder-Side-Tuning): their split
// rows, Fisher samples drawn by a seeded shuffle, 500 warmup updates, the final model tested,
// side initialisation scales, seeds; and the commands that make them checkable
// (`ladder data`, `ladder init`, `ladder eval --checkpoint`).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ladder/data/shuffle.h"
#include "ladder/io/json_file.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"
#include "ladder/models/tensor_io.h"
#include "ladder/train/batching.h"
#include "ladder/train/method_init.h"
#include "test_util.h"

namespace ladder {
namespace {
namespace fs = std::filesystem;
using test::CliResult;
using test::run_cli;
using test::TempDir;

std::vector<int64_t> libtorch_randperm(int64_t n, uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  torch::Tensor perm = torch::randperm(n, generator, torch::kLong);
  return std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string shared_glue_dir() { return std::string(LADDER_SHARED_DIR) + "/data/glue"; }
std::string samples_dir() { return std::string(LADDER_TEST_DATA) + "/glue_samples"; }

TEST(Fidelity, NativeRandpermIsLibtorchs) {
  // The splits use the torch-free copy (data::torch_randperm); this holds it to the libtorch
  // the project is built with, 1.13 or 2.x.
  for (uint64_t seed : {42ull, 0ull, 7ull})
    for (int64_t n : {0, 1, 2, 10, 277, 408, 1043, 1725, 5000}) {
      std::vector<std::size_t> native = data::torch_randperm(static_cast<std::size_t>(n), seed);
      std::vector<int64_t> ours(native.begin(), native.end());
      EXPECT_EQ(ours, libtorch_randperm(n, seed)) << "n " << n << " seed " << seed;
    }
}

// `ladder data` of a small task lists the official dev rows at torch.randperm(n, 42)[n//2:]
// (test) and [:n//2] (validation), in that order.
void expect_small_task_split(const std::string& task, const std::string& data, int64_t dev_rows) {
  TempDir dir;
  CliResult validation = run_cli({"data", "--task", task, "--data", data, "--split", "validation"}, dir);
  ASSERT_EQ(validation.status, 0) << validation.err;
  CliResult test = run_cli({"data", "--task", task, "--data", data, "--split", "test"}, dir);
  ASSERT_EQ(test.status, 0) << test.err;
  const std::vector<int64_t> perm = libtorch_randperm(dev_rows, 42);
  std::vector<int64_t> want_validation(perm.begin(), perm.begin() + dev_rows / 2);
  std::vector<int64_t> want_test(perm.begin() + dev_rows / 2, perm.end());
  std::vector<int64_t> got_validation, got_test;
  for (const auto& e : json_lines(validation.out)) got_validation.push_back(e.at("index").get<int64_t>());
  for (const auto& e : json_lines(test.out)) got_test.push_back(e.at("index").get<int64_t>());
  EXPECT_EQ(got_validation, want_validation) << task;
  EXPECT_EQ(got_test, want_test) << task;
}

TEST(Fidelity, DataCommandListsTheAuthorsSmallTaskRows) {
  const std::string glue = shared_glue_dir();
  ASSERT_TRUE(fs::exists(glue + "/RTE/dev.tsv")) << "the real GLUE data is missing: " << glue << " (../shared)";
  expect_small_task_split("rte", glue, 277);
  expect_small_task_split("cola", glue, 1043);
  expect_small_task_split("mrpc", glue, 1725);  // only the MSR files: their labeled test set is halved
  for (const char* task : {"stsb", "wnli", "mrpc"}) {
    TempDir dir;
    CliResult all = run_cli({"data", "--task", task, "--data", samples_dir(), "--split", "validation"}, dir);
    CliResult rest = run_cli({"data", "--task", task, "--data", samples_dir(), "--split", "test"}, dir);
    ASSERT_EQ(all.status, 0) << all.err;
    ASSERT_EQ(rest.status, 0) << rest.err;
    expect_small_task_split(task, samples_dir(),
                            static_cast<int64_t>(json_lines(all.out).size() + json_lines(rest.out).size()));
  }
  // The rows themselves: RTE's first test example is dev.tsv's data row perm[138].
  TempDir dir;
  CliResult test = run_cli({"data", "--task", "rte", "--data", glue, "--split", "test", "--limit", "1"}, dir);
  ASSERT_EQ(test.status, 0) << test.err;
  const auto rows = json_lines(test.out);
  ASSERT_EQ(rows.size(), 1u);
  const int64_t index = libtorch_randperm(277, 42)[138];
  std::ifstream dev(glue + "/RTE/dev.tsv");
  std::string line;
  for (int64_t i = 0; i <= index + 1; ++i) std::getline(dev, line);  // header, then rows 0..index
  std::vector<std::string> fields;
  std::istringstream split(line);
  for (std::string f; std::getline(split, f, '\t');) fields.push_back(f);
  ASSERT_EQ(fields.size(), 4u) << line;
  EXPECT_EQ(rows[0]["index"], index);
  EXPECT_EQ(rows[0]["source"], "rte sentence1: " + fields[1] + " sentence2: " + fields[2]);
  EXPECT_EQ(rows[0]["target"], fields[3] == "entailment" ? "0" : "1");
}

TEST(Fidelity, DataCommandListsTheAuthorsLargeTaskRows) {
  const std::string glue = shared_glue_dir();
  ASSERT_TRUE(fs::exists(glue + "/SST-2/train.tsv")) << "the real GLUE data is missing: " << glue << " (../shared)";
  TempDir dir;
  CliResult validation = run_cli({"data", "--task", "sst2", "--data", glue, "--split", "validation"}, dir);
  ASSERT_EQ(validation.status, 0) << validation.err;
  CliResult train = run_cli({"data", "--task", "sst2", "--data", glue, "--split", "train", "--limit", "5"}, dir);
  ASSERT_EQ(train.status, 0) << train.err;
  CliResult test = run_cli({"data", "--task", "sst2", "--data", glue, "--split", "test"}, dir);
  ASSERT_EQ(test.status, 0) << test.err;
  const std::vector<int64_t> perm = libtorch_randperm(67349, 42);  // SST-2's training rows
  const auto v = json_lines(validation.out), t = json_lines(train.out), d = json_lines(test.out);
  ASSERT_EQ(v.size(), 1000u);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i]["index"], perm[i]) << i;
  ASSERT_EQ(t.size(), 5u);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i]["index"], perm[1000 + i]) << i;
  ASSERT_EQ(d.size(), 872u);  // the official dev file, in file order
  for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i]["index"], static_cast<int64_t>(i));
}

TEST(Fidelity, FisherSamplesAreASeededShuffleOfTheWholeTrainingSet) {
  const std::vector<std::size_t> drawn = train::init_sample_indices(100, 8, 3);
  const std::vector<int64_t> perm = libtorch_randperm(100, 3);
  EXPECT_EQ(std::vector<int64_t>(drawn.begin(), drawn.end()), std::vector<int64_t>(perm.begin(), perm.begin() + 8));
  EXPECT_NE(drawn, train::init_sample_indices(100, 8, 4));
  std::vector<std::size_t> first(8);
  std::iota(first.begin(), first.end(), 0);
  EXPECT_NE(drawn, first) << "not the first rows of the file";
  std::vector<std::size_t> all = train::init_sample_indices(5, 1024, 3);  // fewer examples than asked
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
}

TEST(Fidelity, DropoutSeedOfAStepIsNotAnotherSeedsPreviousStep) {
  for (uint64_t seed = 0; seed < 20; ++seed)
    for (int64_t step = 1; step < 50; ++step)
      ASSERT_NE(train::mix_seed(seed, step, train::kDropoutSeedPurpose),
                train::mix_seed(seed + 1, step - 1, train::kDropoutSeedPurpose))
          << "seed " << seed << " step " << step;
}

TEST(Fidelity, RandomSideInitScalesComeFromTheBackbone) {
  // The authors' _init_weights reads the unreduced config: q ~ N(0, (d*d_kv)^-1/2), wo ~
  // N(0, d_ff^-1/2) with the backbone's sizes (t5-tiny-v1_0: d 64, d_kv 16, d_ff 96, r 4).
  MethodOptions options;
  options.settings = {{"reduction", 4}, {"side_layers", {0, 1}}, {"side_init", "random"}};
  LstMethod lst(load_model(test::fixture_dir("t5-tiny-v1_0")).model, options);
  torch::Tensor q, wo, bias;
  for (auto& [name, tensor] : lst.named_trainable()) {
    if (name == "side_encoder.side.block.1.layer.0.SelfAttention.q.weight") q = tensor;
    if (name == "side_decoder.side.block.0.layer.2.DenseReluDense.wo.weight") wo = tensor;
    if (name == "side_encoder.side.block.0.layer.0.SelfAttention.relative_attention_bias.weight") bias = tensor;
  }
  ASSERT_TRUE(q.defined() && wo.defined() && bias.defined());
  EXPECT_NEAR(q.std().item<double>(), std::pow(64.0 * 16.0, -0.5), 0.2 * std::pow(64.0 * 16.0, -0.5));  // not (16*4)^-1/2
  EXPECT_NEAR(wo.std().item<double>(), std::pow(96.0, -0.5), 0.2 * std::pow(96.0, -0.5));                // not 24^-1/2
  EXPECT_NEAR(bias.std().item<double>(), std::pow(64.0, -0.5), 0.3 * std::pow(64.0, -0.5));              // not 16^-1/2
}

// `ladder init` writes exactly the weights `ladder train` starts from (Fisher included), and
// a GLUE run records the authors' 500 warmup updates; `ladder eval` scores last/ and says so.
TEST(Fidelity, InitWritesWhatTrainingStartsFromAndEvalScoresTheFinalModel) {
  const std::string model = test::fixture_dir("t5-tiny-v1_0");
  const std::string tokenizer = test::fixture_dir("tiny-tokenizer") + "/spiece.model";
  const std::string data = fs::exists(shared_glue_dir() + "/RTE/train.tsv") ? shared_glue_dir() : samples_dir();
  const std::vector<std::string> common = {"--model", model, "--tokenizer", tokenizer, "--method", "lst",
                                           "--settings", R"({"fisher_samples": 8})", "--task", "rte", "--data", data,
                                           "--max-train-examples", "32", "--seed", "5", "--threads", "1"};
  TempDir dir;
  std::vector<std::string> init = {"init", "--out", dir / "init"};
  init.insert(init.end(), common.begin(), common.end());
  CliResult made = run_cli(init, dir);
  ASSERT_EQ(made.status, 0) << made.err;
  EXPECT_NE(made.err.find("fisher: side network initialised from 8 training examples"), std::string::npos) << made.err;

  // One update: with warmup its learning rate is 0, so last/ holds the starting weights.
  std::vector<std::string> train = {"train", "--out", dir / "run", "--max-steps", "1", "--batch-size", "4",
                                    "--max-eval-examples", "4"};
  train.insert(train.end(), common.begin(), common.end());
  CliResult trained = run_cli(train, dir);
  ASSERT_EQ(trained.status, 0) << trained.err;
  EXPECT_EQ(read_json_file(dir / "run/run.json")["training"]["warmup_steps"], 500);
  const auto initial = read_safetensors(dir / "init/adapter_model.safetensors");
  const auto started = read_safetensors(dir / "run/last/adapter_model.safetensors");
  ASSERT_EQ(initial.size(), started.size());
  for (const auto& [name, tensor] : initial) EXPECT_TRUE(torch::equal(tensor, started.at(name))) << name;

  // Another seed draws other Fisher samples and other new weights.
  std::vector<std::string> other = init;
  other[std::find(other.begin(), other.end(), "5") - other.begin()] = "6";
  other[2] = dir / "init6";
  ASSERT_EQ(run_cli(other, dir).status, 0);
  EXPECT_FALSE(torch::equal(read_safetensors(dir / "init6/adapter_model.safetensors").at("upsample.weight"),
                            initial.at("upsample.weight")));

  CliResult eval = run_cli({"eval", "--run", dir / "run", "--split", "validation", "--threads", "1"}, dir);
  ASSERT_EQ(eval.status, 0) << eval.err;
  const nlohmann::json scored = nlohmann::json::parse(eval.out);
  EXPECT_EQ(scored["checkpoint"], "last");
  EXPECT_EQ(scored["step"], 1);
  EXPECT_NE(eval.err.find("scored last/"), std::string::npos) << eval.err;

  // Fisher needs the data: without --task the error says what to give.
  CliResult no_data = run_cli({"init", "--model", model, "--tokenizer", tokenizer, "--out", dir / "x"}, dir);
  EXPECT_NE(no_data.status, 0);
  EXPECT_NE(no_data.err.find("--task and --data"), std::string::npos) << no_data.err;
  EXPECT_FALSE(fs::exists(dir / "x/adapter_model.safetensors"));
}

}  // namespace
}  // namespace ladder
