// --cache-backbone: the states read back give the loss and gradients of the uncached pass,
// wrong or damaged entries are recomputed, a run reads another run's cache, a resumed run
// keeps its own, and the methods or settings that cannot be cached say so.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ladder/error.h"
#include "ladder/methods/lst.h"
#include "ladder/models/t5/load.h"
#include "ladder/io/json_file.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/interrupt.h"
#include "ladder/train/run.h"
#include "ladder/train/state_cache.h"
#include "test_util.h"

namespace ladder::train {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string tiny_model() { return test::fixture_dir("t5-tiny-v1_0"); }

std::unique_ptr<FineTuningMethod> deterministic_lst(uint64_t seed = 3) {
  MethodOptions options;
  options.name = "lst";
  options.seed = seed;
  options.settings = {{"backbone_dropout", false}, {"side_init", "random"}, {"gate_alpha_init", 0.5}};
  auto method = make_method(load_model(tiny_model()).model, options);
  method->set_training(true);
  return method;
}

// Six examples of different source and target lengths (ids inside the tiny vocabulary).
std::vector<TokenizedExample> examples() {
  std::vector<TokenizedExample> out;
  for (int64_t i = 0; i < 6; ++i) {
    TokenizedExample e;
    for (int64_t t = 0; t < 3 + 2 * i; ++t) e.source.push_back(5 + (7 * i + 3 * t) % 90);
    e.source.push_back(1);
    for (int64_t t = 0; t < 1 + i % 3; ++t) e.target.push_back(10 + (5 * i + t) % 40);
    e.target.push_back(1);
    out.push_back(e);
  }
  return out;
}

StateLayout layout_of(FineTuningMethod& method) {
  const nlohmann::json id = method.backbone_states_identity();
  return {static_cast<int64_t>(id["encoder_layers"].size()), static_cast<int64_t>(id["decoder_layers"].size()),
          method.config().d_model};
}

struct LossAndGradients {
  double loss;
  std::vector<torch::Tensor> gradients;
};

LossAndGradients step(FineTuningMethod& method, const std::function<Seq2SeqOutput()>& forward) {
  for (auto& p : method.trainable_parameters()) p.mutable_grad() = torch::Tensor();
  torch::manual_seed(11);  // the side network's dropout draws the same masks in both passes
  Seq2SeqOutput out = forward();
  out.loss.backward();
  LossAndGradients r{out.loss.item<double>(), {}};
  for (auto& p : method.trainable_parameters()) r.gradients.push_back(p.grad().clone());
  return r;
}

void expect_same_step(FineTuningMethod& method, const std::vector<TokenizedExample>& data, BackboneStateCache& cache,
                      const std::vector<std::size_t>& batch_rows, double tolerance) {
  const Seq2SeqBatch batch = collate(data, batch_rows, method.config().pad_token_id);
  const auto states = cache.lookup(batch_rows, torch::kCPU);
  ASSERT_TRUE(states.has_value());
  const LossAndGradients plain = step(method, [&] { return method.forward(batch); });
  const LossAndGradients cached = step(method, [&] { return method.forward_from_states(batch, *states); });
  EXPECT_LE(std::abs(cached.loss - plain.loss), tolerance * std::abs(plain.loss));
  ASSERT_EQ(cached.gradients.size(), plain.gradients.size());
  double worst = 0;
  for (size_t i = 0; i < plain.gradients.size(); ++i)
    if (plain.gradients[i].abs().max().item<double>() > 0)
      worst = std::max(worst, test::max_rel_diff(cached.gradients[i], plain.gradients[i]));
  EXPECT_LE(worst, tolerance) << "largest relative gradient difference";
}

TEST(BackboneStateCache, CachedStatesGiveTheUncachedLossAndGradients) {
  TempDir dir;
  auto method = deterministic_lst();
  const auto data = examples();
  BackboneStateCache cache({(dir.path() / "cache").string(), "fp32", 0}, {{"test", 1}}, layout_of(*method), data);
  // Filled from batches of one composition, read back in batches of another (other padding).
  for (const std::vector<std::size_t>& rows : {std::vector<std::size_t>{0, 1, 2}, {3, 4, 5}}) {
    const Seq2SeqBatch batch = collate(data, rows, method->config().pad_token_id);
    cache.store(rows, method->backbone_states(batch));
  }
  EXPECT_TRUE(cache.complete());
  expect_same_step(*method, data, cache, {5, 0, 3}, 1e-5);
  expect_same_step(*method, data, cache, {2}, 1e-5);
}

TEST(BackboneStateCache, CompactFormatsStayCloseAndInt8RowsKeepTheirScale) {
  TempDir dir;
  auto method = deterministic_lst();
  const auto data = examples();
  const std::vector<std::size_t> rows{0, 1, 2, 3, 4, 5};
  const Seq2SeqBatch batch = collate(data, rows, method->config().pad_token_id);
  const LadderStates exact = method->backbone_states(batch);
  for (const char* dtype : {"bf16", "int8"}) {
    BackboneStateCache cache({(dir.path() / dtype).string(), dtype, 1 << 20}, {{"test", 1}}, layout_of(*method), data);
    cache.store(rows, exact);
    const auto read = cache.lookup(rows, torch::kCPU);
    ASSERT_TRUE(read.has_value()) << dtype;
    for (size_t j = 0; j < exact.encoder.size(); ++j) {
      for (int64_t b = 0; b < 6; ++b) {
        const int64_t n = static_cast<int64_t>(data[b].source.size());
        using torch::indexing::Slice;
        const torch::Tensor want = exact.encoder[j][b].index({Slice(0, n)}), got = read->encoder[j][b].index({Slice(0, n)});
        // bf16 keeps 8 significant bits (relative error 2^-9); int8 rows err by at most half a step.
        const torch::Tensor bound = std::string(dtype) == "bf16"
                                        ? want.abs() * (1.0 / 256) + 1e-30
                                        : want.abs().amax(-1, true) / 127.0 * 0.5 + 1e-6;
        EXPECT_TRUE(((got - want).abs() <= bound).all().item<bool>()) << dtype << " layer " << j << " row " << b;
        // Past an example's length the batch is zero-padded, as collate pads.
        EXPECT_EQ(read->encoder[j][b].index({Slice(n)}).abs().sum().item<double>(), 0.0);
      }
    }
  }
}

TEST(BackboneStateCache, WrongOrDamagedEntriesAreRecomputedNeverUsed) {
  TempDir dir;
  auto method = deterministic_lst();
  auto data = examples();
  const std::string folder = (dir.path() / "cache").string();
  const StateCacheOptions options{folder, "fp32", 0};
  std::string states_file;
  {
    BackboneStateCache cache(options, {{"test", 1}}, layout_of(*method), data);
    const std::vector<std::size_t> rows{0, 1, 2, 3, 4, 5};
    cache.store(rows, method->backbone_states(collate(data, rows, 0)));
    states_file = cache.folder() + "/states.bin";
  }
  // The same identity reopens the same entries.
  {
    BackboneStateCache cache(options, {{"test", 1}}, layout_of(*method), data);
    EXPECT_TRUE(cache.complete());
    EXPECT_EQ(cache.folder() + "/states.bin", states_file);
  }
  // Example 2 is now another text: its entry no longer fits and is not used.
  data[2].source[0] += 1;
  {
    BackboneStateCache cache(options, {{"test", 1}}, layout_of(*method), data);
    EXPECT_EQ(cache.cached_examples(), 5);
    EXPECT_FALSE(cache.lookup({1, 2}, torch::kCPU).has_value());
    EXPECT_TRUE(cache.lookup({1, 3}, torch::kCPU).has_value());
    cache.store({2}, method->backbone_states(collate(data, {2}, 0)));
    EXPECT_TRUE(cache.complete());
    expect_same_step(*method, data, cache, {2, 1}, 1e-5);
  }
  // A flipped byte in the first record's payload: detected by its checksum, recomputed.
  {
    std::fstream f(states_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(48 + 100);
    f.put('\x7f');
  }
  BackboneStateCache cache(options, {{"test", 1}}, layout_of(*method), data);
  EXPECT_FALSE(cache.lookup({0}, torch::kCPU).has_value());
  EXPECT_NE(cache.describe().find("1 damaged entries recomputed"), std::string::npos) << cache.describe();
  // Another identity (other backbone weights) never sees these states.
  BackboneStateCache other(options, {{"test", 2}}, layout_of(*method), data);
  EXPECT_NE(other.folder(), cache.folder());
  EXPECT_EQ(other.cached_examples(), 0);
}

TEST(BackboneStateCache, WeightsChecksumSeesEveryValue) {
  auto a = load_model(tiny_model()).model;
  auto b = load_model(tiny_model()).model;
  EXPECT_EQ(weights_checksum(*a), weights_checksum(*b));
  {
    torch::NoGradGuard no_grad;
    b->decoder->blocks[0]->parameters()[0].view(-1)[7] += 1e-3;
  }
  EXPECT_NE(weights_checksum(*a), weights_checksum(*b));
}

RunConfig cached_run(const std::string& cache_dir) {
  RunConfig c;
  c.model = tiny_model();
  c.tokenizer = test::fixture_dir("tiny-tokenizer") + "/spiece.model";
  c.task.task = "rte";
  c.task.data = std::string(LADDER_TEST_DATA) + "/glue_samples";  // 3 training rows
  c.method = "lst";
  c.settings = {{"backbone_dropout", false}, {"side_init", "random"}};
  c.train.learning_rate = 3e-3;
  c.train.batch_size = 2;  // 2 updates per epoch
  c.train.epochs = 3;
  c.train.warmup_steps = 1;
  c.train.log_every = 1;
  c.train.seed = 4;
  c.train.cache_backbone = !cache_dir.empty();
  c.train.cache_dir = cache_dir == "RUN" ? "" : cache_dir;
  c.train.cache_dtype = "fp32";
  return c;
}

std::vector<double> logged(const fs::path& run, const std::string& field) {
  std::vector<double> values;
  std::ifstream in(run / "log.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line);
    if (record["type"] == "train") values.push_back(record.value(field, -1.0));
  }
  return values;
}

TEST(CachedTraining, EqualsTheUncachedRunAndASecondRunStartsFromTheCache) {
  TempDir dir;
  start_run(cached_run(""), (dir.path() / "plain").string(), {});
  const std::string shared = (dir.path() / "shared-cache").string();
  std::ostringstream first_log, second_log;
  RunContext first, second;
  first.hooks.progress = &first_log;
  second.hooks.progress = &second_log;
  start_run(cached_run(shared), (dir.path() / "cached").string(), first);
  const auto plain = logged(dir.path() / "plain", "loss"), cached = logged(dir.path() / "cached", "loss");
  ASSERT_EQ(plain.size(), 6u);
  ASSERT_EQ(cached.size(), 6u);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(cached[i], plain[i], 1e-5 * std::abs(plain[i])) << "update " << i;
  // Epoch 1 computes the states (hits 0), later epochs only read them.
  EXPECT_EQ(logged(dir.path() / "cached", "cache_hit_rate"), (std::vector<double>{0, 0, 1, 1, 1, 1}));
  EXPECT_NE(first_log.str().find("| cache 100% hits"), std::string::npos) << first_log.str();
  auto a = read_safetensors(dir.path() / "plain/last/adapter_model.safetensors");
  auto b = read_safetensors(dir.path() / "cached/last/adapter_model.safetensors");
  for (const auto& [name, tensor] : a) EXPECT_LE(test::max_rel_diff(b.at(name), tensor), 1e-4) << name;

  // Another learning rate on the same backbone and data: every state is read from the cache.
  RunConfig sweep = cached_run(shared);
  sweep.train.learning_rate = 1e-3;
  start_run(sweep, (dir.path() / "sweep").string(), second);
  EXPECT_EQ(logged(dir.path() / "sweep", "cache_hit_rate"), (std::vector<double>(6, 1.0)));
  EXPECT_NE(second_log.str().find(": 3/3 examples"), std::string::npos) << second_log.str();
  // With every state cached from the start its backbone blocks were freed for the training
  // steps and read back for each evaluation: the same run as one that kept them.
  EXPECT_NE(second_log.str().find("released the backbone's blocks"), std::string::npos) << second_log.str();
  RunConfig kept = sweep;
  kept.train.cache_release_backbone = false;
  start_run(kept, (dir.path() / "kept").string(), {});
  EXPECT_EQ(read_json_file((dir.path() / "kept/metrics.json").string())["evaluations"],
            read_json_file((dir.path() / "sweep/metrics.json").string())["evaluations"]);
  auto with_blocks = read_safetensors(dir.path() / "kept/last/adapter_model.safetensors");
  auto released = read_safetensors(dir.path() / "sweep/last/adapter_model.safetensors");
  for (const auto& [name, tensor] : with_blocks) EXPECT_TRUE(torch::equal(released.at(name), tensor)) << name;
}

TEST(CachedTraining, AResumedRunKeepsItsCache) {
  TempDir dir;
  const fs::path run = dir.path() / "run";
  RunContext stopping;
  stopping.hooks.stop = [](int64_t step) { return step == 3 ? SIGTERM : 0; };
  EXPECT_THROW(start_run(cached_run("RUN"), run.string(), stopping), TrainingInterrupted);
  EXPECT_TRUE(fs::exists(run / "backbone-cache"));
  resume_run(run.string(), {});
  const auto hits = logged(run, "cache_hit_rate");
  ASSERT_EQ(hits.size(), 6u);
  EXPECT_EQ(hits[3], 1.0) << "the first update after the resume reads the states the first session stored";
}

TEST(CachedTraining, MethodsAndSettingsThatCannotBeCachedSaySo) {
  TempDir dir;
  RunConfig dropout = cached_run("RUN");
  dropout.settings = {{"side_init", "random"}};  // the authors' backbone dropout: not a pure function
  try {
    start_run(dropout, (dir.path() / "a").string(), {});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("backbone_dropout"), std::string::npos) << e.what();
  }
  RunConfig lora = cached_run("RUN");
  lora.method = "lora";
  lora.settings = nlohmann::json::object();
  try {
    start_run(lora, (dir.path() / "b").string(), {});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("method lora"), std::string::npos) << e.what();
  }
}

// A complete cache frees the blocks at once; an entry found damaged later, when it is read,
// brings them back to recompute it.
TEST(CachedTraining, AnEntryFoundDamagedAfterTheBlocksWereReleasedIsRecomputed) {
  TempDir dir;
  const std::string shared = (dir.path() / "cache").string();
  start_run(cached_run(shared), (dir.path() / "first").string(), {});
  for (const auto& entry : fs::directory_iterator(shared)) {
    std::fstream f(entry.path() / "states.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(48 + 64);
    f.put('\x55');
  }
  std::ostringstream log;
  RunContext context;
  context.hooks.progress = &log;
  start_run(cached_run(shared), (dir.path() / "second").string(), context);
  EXPECT_NE(log.str().find("released the backbone's blocks"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("1 damaged entries recomputed"), std::string::npos) << log.str();
  const auto first = logged(dir.path() / "first", "loss"), second = logged(dir.path() / "second", "loss");
  ASSERT_EQ(second.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(second[i], first[i], 1e-5 * std::abs(first[i])) << i;
}

// A quantised backbone keeps its block weights as buffers (codes and scales): they are
// released and restored too, and the restored model computes what it did before.
TEST(BackboneStateCache, ReleasedAndRestoredQuantisedBlocksGiveTheSameLogits) {
  TempDir dir;
  ModelOptions int8;
  int8.quantization = QuantFormat::int8;
  MethodOptions options;
  options.name = "lst";
  options.settings = {{"backbone_dropout", false}, {"side_init", "random"}};
  auto method = make_method(load_model(tiny_model(), int8).model, options);
  method->set_training(false);
  const Seq2SeqBatch batch = test::golden_batch("t5-tiny-v1_0");
  torch::NoGradGuard no_grad;
  const torch::Tensor before = method->forward(batch).logits;
  int64_t held = 0;
  for (const auto& b : method->backbone()->named_buffers())
    if (b.key().rfind("encoder.block.", 0) == 0) held += b.value().numel();
  ASSERT_GT(held, 0) << "the int8 backbone has no quantised block buffers";
  const int64_t freed = method->release_backbone_blocks((dir.path() / "blocks.safetensors").string());
  EXPECT_GT(freed, 0);
  for (const auto& b : method->backbone()->named_buffers())
    if (b.key().rfind("encoder.block.", 0) == 0) EXPECT_EQ(b.value().numel(), 0) << b.key();
  EXPECT_THROW(method->backbone_states(batch), Error);
  method->restore_backbone_blocks();
  EXPECT_TRUE(torch::equal(method->forward(batch).logits, before));
}

TEST(CachedTraining, CliFlags) {
  TempDir dir;
  const std::vector<std::string> common = {"train", "--model", tiny_model(), "--tokenizer",
                                           test::fixture_dir("tiny-tokenizer") + "/spiece.model", "--task", "rte", "--data",
                                           std::string(LADDER_TEST_DATA) + "/glue_samples", "--method", "lst", "--settings",
                                           R"({"backbone_dropout": false, "side_init": "random"})", "--epochs", "2",
                                           "--batch-size", "2", "--warmup-steps", "1", "--log-every", "1", "--threads", "1"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::string run = (dir.path() / "run").string();
  test::CliResult r = test::run_cli(with({"--cache-backbone", "--cache-dtype", "int8", "--cache-memory", "0", "--out", run}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("| cache 100% hits"), std::string::npos) << r.err;
  const nlohmann::json training = read_json_file(run + "/run.json")["training"];
  EXPECT_EQ(training["cache_backbone"], true);
  EXPECT_EQ(training["cache_dtype"], "int8");
  EXPECT_EQ(training["cache_memory_bytes"], 0);
  EXPECT_TRUE(fs::exists(run + "/backbone-cache"));

  const std::string shared = (dir.path() / "cache").string();
  r = test::run_cli(with({"--cache-backbone", shared, "--cache-memory", "64M", "--out", (dir.path() / "run2").string()}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_json_file((dir.path() / "run2/run.json").string())["training"]["cache_dir"], shared);
  EXPECT_EQ(read_json_file((dir.path() / "run2/run.json").string())["training"]["cache_memory_bytes"], 64 << 20);
  EXPECT_FALSE(fs::exists(dir.path() / "run2/backbone-cache"));

  r = test::run_cli(with({"--cache-dtype", "int8", "--out", (dir.path() / "run3").string()}), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--cache-dtype applies to --cache-backbone"), std::string::npos) << r.err;
  r = test::run_cli(with({"--cache-backbone", "--cache-memory", "lots", "--out", (dir.path() / "run4").string()}), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("expected a size such as 512M"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ladder::train

namespace ladder::train {
namespace {

// ladder bench memory: the cached rows read the cache in their timed steps, the released row
// holds only the embedding table (and head) of the backbone, and the flags reach the children.
TEST(CachedTraining, BenchRowsOfTheCache) {
  TempDir dir;
  const std::string json = (dir.path() / "bench.json").string();
  auto bench = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"bench", "memory", "--model", tiny_model(), "--methods", "lst", "--batch", "2",
                                     "--src-len", "8", "--tgt-len", "3", "--warmup", "1", "--steps", "1",
                                     "--threads", "1", "--json", json};
    args.insert(args.end(), extra.begin(), extra.end());
    test::CliResult r = test::run_cli(args, dir);
    EXPECT_EQ(r.status, 0) << r.err;
    return read_json_file(json)["records"][0];
  };
  const nlohmann::json plain = bench({});
  const nlohmann::json cached = bench({"--cached-states"});
  const nlohmann::json released = bench({"--cached-states", "--release-blocks", "--return-freed-memory"});
  EXPECT_EQ(plain["variant"], "");
  EXPECT_EQ(cached["variant"], "cached");
  EXPECT_EQ(released["variant"], "cached, blocks released, freed memory returned");
  const int64_t frozen = plain["categories"]["frozen_weights"].get<int64_t>();
  EXPECT_EQ(cached["categories"]["frozen_weights"].get<int64_t>(), frozen);
  // What stays of t5-tiny-v1_0 (tied head): the shared embedding table alone.
  const T5Config config = load_model(tiny_model()).model->config;
  EXPECT_EQ(released["categories"]["frozen_weights"].get<int64_t>(), config.vocab_size * config.d_model * 4);
  EXPECT_GT(cached["categories"]["cached_states"].get<int64_t>(), 0);
  // The same updates: the cached rows' loss is the deterministic backbone's, bf16 states aside.
  EXPECT_NEAR(released["final_loss"].get<double>(), cached["final_loss"].get<double>(), 1e-6);
}

}  // namespace
}  // namespace ladder::train
